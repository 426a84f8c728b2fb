"""Paid memberships: each member's membership, and the payments shops report

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COLUMNS = (
    ("membership", sa.String(64)),
    ("membership_status", sa.String(16)),
    ("membership_started_at", sa.DateTime(timezone=True)),
    ("membership_period_ends_at", sa.DateTime(timezone=True)),
    ("membership_next_grant_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("members", sa.Column(name, type_, nullable=True))
    op.add_column(
        "members",
        sa.Column("membership_cancelled", sa.Boolean(), nullable=False, server_default="0"),
    )
    op.create_table(
        "membership_payments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("membership", sa.String(64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_membership_payments_program_id_programs"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_membership_payments_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_payments")),
    )
    op.create_index(op.f("ix_membership_payments_member_id"), "membership_payments", ["member_id"])


def downgrade() -> None:
    op.drop_table("membership_payments")
    op.drop_column("members", "membership_cancelled")
    for name, _type in reversed(COLUMNS):
        op.drop_column("members", name)
