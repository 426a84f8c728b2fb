"""The leaderboard on both databases: opted-in members only, by name, never e-mails."""

from datetime import timedelta

import pytest

from fidela.domain.events import MemberUpdate
from fidela.domain.ids import ProgramId
from fidela.services import leaderboard, members, privacy
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0
from tests.services.helpers import enroll, purchase, send


def opt_in(uow: UnitOfWork, cafe: ProgramId, email: str, name: str | None) -> None:
    changes = MemberUpdate.model_validate({"leaderboard_name": name})
    members.update(uow, cafe, email, changes, now=T0)


def test_opted_in_members_rank_by_the_points_they_earned_this_period(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    for email, amount in (("ana@example.com", "30.00"), ("bob@example.com", "50.00"),
                          ("cy@example.com", "90.00")):  # fmt: skip
        enroll(uow, cafe, email, T0)
        purchase(uow, cafe, email, email, amount, T0)
    opt_in(uow, cafe, "ana@example.com", "Ana L.")
    opt_in(uow, cafe, "bob@example.com", "Bobby")  # cy, the biggest buyer, stays off it
    send(uow, cafe, T0, idempotency_key="r", type="refund", order_id="bob@example.com",
         amount="30.00")  # fmt: skip
    board = leaderboard.ranked(uow, cafe, "month", limit=10, now=T0 + timedelta(hours=1))
    assert board["leaders"] == [
        {"rank": 1, "name": "Ana L.", "points": 30},
        {"rank": 2, "name": "Bobby", "points": 20},  # 50 earned, 30 reversed
    ]
    next_month = leaderboard.ranked(uow, cafe, "month", limit=10, now=T0 + timedelta(days=31))
    assert next_month["leaders"] == []
    opt_in(uow, cafe, "ana@example.com", None)  # opts out
    ana = members.show(uow, cafe, "ana@example.com")
    privacy.erase(uow, cafe, members.locate(uow, cafe, "bob@example.com"), actor="dpo", now=T0)
    assert ana["leaderboard_name"] is None
    assert leaderboard.ranked(uow, cafe, "year", limit=10, now=T0)["leaders"] == []


def test_a_leaderboard_name_may_not_be_an_email() -> None:
    with pytest.raises(ValueError, match="without @"):
        MemberUpdate.model_validate({"leaderboard_name": "ana@example.com"})
