"""Referrals: each member's code, and every referral with its status and reason

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("members", sa.Column("referral_code", sa.String(16), nullable=True))
    op.create_index(
        op.f("ix_members_program_id_referral_code"),
        "members",
        ["program_id", "referral_code"],
        unique=True,
    )
    op.create_table(
        "referrals",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("referrer_id", Id, nullable=False),
        sa.Column("referee_id", Id, nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_order_ref", sa.String(200), nullable=True),
        sa.Column("qualifies_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rewarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("referrer_points", sa.BigInteger(), nullable=False),
        sa.Column("referee_points", sa.BigInteger(), nullable=False),
        sa.Column("referrer_seq", sa.BigInteger(), nullable=True),
        sa.Column("referee_seq", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_referrals_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"], ["members.id"], name=op.f("fk_referrals_referrer_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["referee_id"], ["members.id"], name=op.f("fk_referrals_referee_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("referee_id", name=op.f("uq_referrals_referee_id")),
    )
    op.create_index(
        op.f("ix_referrals_program_id_status_qualifies_at"),
        "referrals",
        ["program_id", "status", "qualifies_at"],
    )
    op.create_index(op.f("ix_referrals_referrer_id"), "referrals", ["referrer_id"])


def downgrade() -> None:
    op.drop_table("referrals")
    op.drop_index(op.f("ix_members_program_id_referral_code"), table_name="members")
    op.drop_column("members", "referral_code")
