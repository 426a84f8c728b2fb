"""Webhooks live: a program's ledger head says whether it has a live subscription

Posts write the ledger's effects to the outbox only then: before, every event and every
expiry wrote a row that run-due deleted later when no subscription received it.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "ledger_heads",
        sa.Column("webhooks_live", sa.Boolean(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE ledger_heads SET webhooks_live = EXISTS (SELECT 1 FROM webhook_subscriptions s"
        " WHERE s.program_id = ledger_heads.program_id AND s.disabled_at IS NULL)"
    )


def downgrade() -> None:
    op.drop_column("ledger_heads", "webhooks_live")
