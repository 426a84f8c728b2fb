"""Storage: tables, migrations, repositories and the unit of work; the only code with SQL."""
