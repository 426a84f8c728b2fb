"""Refund abuse: a share of what was bought, judged only over enough orders."""

from fidela.domain.fraud import Buying, refunds_too_much
from fidela.domain.program import parse_program
from tests.conftest import example

STRICT = parse_program(
    example("cafe.yaml").replace(
        "pending_days: 0 ", "caps: {flag_refund_share: '0.5'}\npending_days: 0 "
    )
)


def test_refunds_over_the_share_of_enough_orders_are_too_much() -> None:
    assert refunds_too_much(STRICT, Buying(orders=3, bought_minor=3000, refunded_minor=1501))
    assert not refunds_too_much(STRICT, Buying(orders=3, bought_minor=3000, refunded_minor=1500))
    assert not refunds_too_much(STRICT, Buying(orders=2, bought_minor=2000, refunded_minor=2000))
    assert not refunds_too_much(STRICT, Buying(orders=3, bought_minor=0, refunded_minor=0))
    cafe = parse_program(example("cafe.yaml"))  # no flag_refund_share: never
    assert not refunds_too_much(cafe, Buying(orders=9, bought_minor=100, refunded_minor=100))
