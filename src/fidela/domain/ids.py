"""Typed identifiers, so that a member id can't be passed where a lot number is expected."""

from typing import NewType

ProgramId = NewType("ProgramId", str)
CustomerId = NewType("CustomerId", int)
MemberId = NewType("MemberId", int)
EventNo = NewType("EventNo", int)
LotNo = NewType("LotNo", int)
Seq = NewType("Seq", int)

ID_MAX = 2**63 - 1  # the largest id a 64-bit column holds: larger ones are refused, not stored
