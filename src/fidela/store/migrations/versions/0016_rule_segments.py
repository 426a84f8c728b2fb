"""Rule segments: each member's rule segments over time

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "member_rule_segments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("segment", sa.String(64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_member_rule_segments_program_id_programs"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_rule_segments_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_rule_segments")),
    )
    op.create_index(
        op.f("ix_member_rule_segments_program_id_until_segment"),
        "member_rule_segments",
        ["program_id", "until", "segment"],
    )
    op.create_index(
        op.f("ix_member_rule_segments_member_id_since"),
        "member_rule_segments",
        ["member_id", "since"],
    )


def downgrade() -> None:
    op.drop_table("member_rule_segments")
