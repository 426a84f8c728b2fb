"""Plain-Python business rules: no database, no clock, no I/O."""
