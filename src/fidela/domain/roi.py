"""The return on a loyalty program, as a manager models it before launch.

Over a year: the members' revenue without the program (members x orders a year x
average order), the uplift the program is expected to bring in frequency and basket,
the gross margin on that revenue, and what the program costs: the rewards its points
buy (revenue x points per unit of money x point value x (1 - breakage), since expired
points cost nothing) and a fixed yearly cost (software, staff, marketing).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from fidela.domain.errors import InvalidInput

ONE = Decimal(1)


@dataclass(frozen=True)
class Assumptions:
    members: int
    orders_per_year: Decimal  # per member, without the program
    average_order: Decimal  # in the currency, without the program
    margin: Decimal  # gross margin on revenue, 0 to 1
    points_per_unit: Decimal  # points earned per unit of money, on average
    point_value: Decimal  # what a redeemed point costs
    breakage: Decimal  # the share of points that expire unredeemed, 0 to 1
    frequency_uplift: Decimal = Decimal(0)  # 0.05: members order 5 % more often
    basket_uplift: Decimal = Decimal(0)  # 0.03: their orders are 3 % larger
    fixed_cost: Decimal = Decimal(0)  # a year

    def __post_init__(self) -> None:
        for name in ("margin", "breakage"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidInput(name, "must be between 0 and 1")
        for name in ("orders_per_year", "average_order", "points_per_unit", "point_value"):
            if getattr(self, name) < 0:
                raise InvalidInput(name, "must not be negative")
        if self.members < 0 or self.fixed_cost < 0:
            raise InvalidInput(
                "members" if self.members < 0 else "fixed_cost", "must not be negative"
            )
        for name in ("frequency_uplift", "basket_uplift"):
            if getattr(self, name) <= -1:
                raise InvalidInput(name, "must be above -1 (-100 %)")

    @property
    def reward_rate(self) -> Decimal:
        """What rewards cost per unit of revenue: points earned x value x (1 - breakage)."""
        return self.points_per_unit * self.point_value * (ONE - self.breakage)


@dataclass(frozen=True)
class Return:
    baseline_revenue: Decimal
    revenue: Decimal  # with the uplift
    incremental_margin: Decimal
    reward_cost: Decimal
    yearly_cost: Decimal  # rewards and fixed cost
    net: Decimal  # incremental margin - yearly cost
    roi: Decimal | None  # net / yearly cost
    break_even_uplift: Decimal | None  # the revenue uplift at which net is 0; None: never


def model(a: Assumptions) -> Return:
    """The year's figures under the assumptions, and the break-even revenue uplift."""
    baseline = a.members * a.orders_per_year * a.average_order
    growth = (ONE + a.frequency_uplift) * (ONE + a.basket_uplift)
    revenue = baseline * growth
    incremental = (revenue - baseline) * a.margin
    rewards = revenue * a.reward_rate
    yearly = rewards + a.fixed_cost
    net = incremental - yearly
    return Return(
        baseline_revenue=baseline,
        revenue=revenue,
        incremental_margin=incremental,
        reward_cost=rewards,
        yearly_cost=yearly,
        net=net,
        roi=net / yearly if yearly else None,
        break_even_uplift=break_even(a, baseline),
    )


def break_even(a: Assumptions, baseline: Decimal) -> Decimal | None:
    """The revenue uplift g - 1 at which the margin it adds pays for the program:
    B m (g - 1) = B g r + F, so g = (B m + F) / (B (m - r)); None if rewards cost more
    than the margin on every sale (m <= r) or there is no revenue."""
    if baseline <= 0 or a.margin <= a.reward_rate:
        return None
    growth = (baseline * a.margin + a.fixed_cost) / (baseline * (a.margin - a.reward_rate))
    return growth - ONE
