"""Lots by member: a lot's primary key is its member and number, and SQLite clusters by it

On SQLite the table loses its rowid, so that a member's lots lie together in a few pages:
expiring the lots of a batch of members rewrote pages all over the table before, since
lots are stored in the order they were earned. Lot numbers stay unique per program.

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _key_lots_by(["member_id", "lot_no"], clustered=True)


def downgrade() -> None:
    _key_lots_by(["program_id", "lot_no"], clustered=False)


def _key_lots_by(columns: list[str], *, clustered: bool) -> None:
    """Make `columns` the lots' primary key; SQLite rebuilds the table (with no rowid
    when `clustered`), PostgreSQL alters it."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "lots",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_with_rowid": not clustered},
    ) as batch_op:
        if clustered:
            batch_op.create_unique_constraint("uq_lots_program_id_lot_no", ["program_id", "lot_no"])
        else:
            batch_op.drop_constraint("uq_lots_program_id_lot_no", type_="unique")
        batch_op.drop_constraint("pk_lots", type_="primary")
        batch_op.create_primary_key("pk_lots", columns)
