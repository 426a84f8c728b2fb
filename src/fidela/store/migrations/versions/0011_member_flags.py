"""Flags: members an admin should look at (refunds beyond a share of purchases)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "member_flags",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_member_flags_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_flags_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_flags")),
    )
    op.create_index(
        op.f("ix_member_flags_program_id_status"), "member_flags", ["program_id", "status"]
    )
    op.create_index(
        op.f("ix_member_flags_member_id_kind_status"),
        "member_flags",
        ["member_id", "kind", "status"],
    )


def downgrade() -> None:
    op.drop_table("member_flags")
