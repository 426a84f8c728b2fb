"""Each member's last purchase, from which an inactivity expiry policy counts

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE: SQLite adds and drops a column in place, where batch mode would
    # copy the table, which its foreign keys forbid once it holds members.
    op.add_column("members", sa.Column("last_purchase_at", sa.DateTime(timezone=True)))
    # What a customer bought before enrolling is not the member's purchase (no member_id).
    op.execute(
        "UPDATE members SET last_purchase_at = ("
        " SELECT max(orders.occurred_at) FROM orders WHERE orders.member_id = members.id)"
    )


def downgrade() -> None:
    op.drop_column("members", "last_purchase_at")
