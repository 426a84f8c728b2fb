"""RFM segments: each member's segment over time, and when a program's were computed

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "member_segments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("recency", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_member_segments_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_segments_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_segments")),
    )
    op.create_index(
        op.f("ix_member_segments_program_id_until_segment"),
        "member_segments",
        ["program_id", "until", "segment"],
    )
    op.create_index(
        op.f("ix_member_segments_member_id_since"), "member_segments", ["member_id", "since"]
    )
    op.create_table(
        "segment_runs",
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_segment_runs_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_segment_runs")),
    )


def downgrade() -> None:
    op.drop_table("segment_runs")
    op.drop_index(op.f("ix_member_segments_member_id_since"), table_name="member_segments")
    op.drop_index(op.f("ix_member_segments_program_id_until_segment"), table_name="member_segments")
    op.drop_table("member_segments")
