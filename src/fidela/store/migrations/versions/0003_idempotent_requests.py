"""Idempotent requests: the first answer to each Idempotency-Key, for its retries

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "idempotent_requests",
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_idempotent_requests_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", "key", name=op.f("pk_idempotent_requests")),
    )


def downgrade() -> None:

    op.drop_table("idempotent_requests")
