"""Badges: awarded once per member, with the challenge that awarded them

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "member_badges",
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("badge", sa.String(64), nullable=False),
        sa.Column("challenge_id", sa.String(64), nullable=False),
        sa.Column("awarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_member_badges_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_badges_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", "badge", name=op.f("pk_member_badges")),
    )


def downgrade() -> None:
    op.drop_table("member_badges")
