"""Typed identifiers, so that a member id can't be passed where a lot number is expected."""

from typing import NewType

ProgramId = NewType("ProgramId", str)
CustomerId = NewType("CustomerId", int)
MemberId = NewType("MemberId", int)
EventNo = NewType("EventNo", int)
LotNo = NewType("LotNo", int)
Seq = NewType("Seq", int)
