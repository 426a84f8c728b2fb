"""Money: a Decimal amount with its ISO 4217 currency, stored as integer minor units."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fidela.domain.errors import InvalidInput

# Minor-unit exponents of ISO 4217; currencies not listed here have two decimals.
_EXPONENTS = {
    "BHD": 3, "CLP": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3,
    "LYD": 3, "OMR": 3, "PYG": 0, "TND": 3, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
}  # fmt: skip
CURRENCIES = frozenset(
    """AED ARS AUD BGN BHD BRL CAD CHF CLP CNY COP CZK DKK EGP EUR GBP HKD HUF IDR ILS INR IQD
    ISK JOD JPY KES KRW KWD LYD MAD MXN MYR NGN NOK NZD OMR PEN PHP PKR PLN PYG QAR RON RSD SAR
    SEK SGD THB TND TRY TWD UAH UGX USD VND XAF XOF ZAR""".split()
)


def exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has (2 for EUR and USD, 0 for JPY)."""
    return _EXPONENTS.get(currency, 2)


def to_minor(amount: Decimal, currency: str, field: str = "amount") -> int:
    """Integer minor units of `amount`; refuses amounts finer than the currency allows."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidInput(field, f"{amount} has more decimals than {currency} allows")
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    """The amount `minor` units stand for, with the currency's decimals (250 EUR: 2.50)."""
    return Decimal(minor).scaleb(-exponent(currency))


def parse_amount(text: str, field: str) -> Decimal:
    """A positive amount typed by a person (`80.00`); InvalidInput naming `field` if not."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput(field, f"{text!r} is not an amount like 80.00") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput(field, f"{text!r} is not an amount greater than 0")
    return amount
