"""Punch cards: each member's cards, the punches orders gave, and the vouchers full cards issue

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("cards", sa.JSON(), nullable=True))
    op.add_column("orders", sa.Column("punches", sa.JSON(), nullable=True))
    op.add_column("orders", sa.Column("removed_punches", sa.JSON(), nullable=True))
    op.add_column(
        "redemptions",
        sa.Column("source", sa.String(16), nullable=False, server_default="reward"),
    )
    # A full card's voucher spends no points: no transaction. No table references
    # redemptions, so SQLite may copy it (batch mode) to drop the NOT NULL.
    with op.batch_alter_table("redemptions") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("redemptions") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
    op.drop_column("redemptions", "source")
    op.drop_column("orders", "removed_punches")
    op.drop_column("orders", "punches")
    op.drop_column("members", "cards")
