"""Fidela: an open-source loyalty-program engine with an exact double-entry ledger."""

__version__ = "0.1.0"
