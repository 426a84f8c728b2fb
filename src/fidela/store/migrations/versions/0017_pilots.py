"""Pilots: a share of customers in a pilot group, the rest in control

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pilots",
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("strata", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_pilots_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", "name", name=op.f("pk_pilots")),
    )
    op.create_table(
        "pilot_groups",
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("pilot", sa.String(64), nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("stratum", sa.String(64), nullable=False),
        sa.Column("in_pilot", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_pilot_groups_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("program_id", "pilot", "customer_id", name=op.f("pk_pilot_groups")),
    )


def downgrade() -> None:
    op.drop_table("pilot_groups")
    op.drop_table("pilots")
