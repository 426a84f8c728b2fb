"""Store credit (cashback): credit lots and balances, what orders earned, checkout payments

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ALTER TABLE, as in 0006: the defaults fill the rows stored before (all points).
    op.add_column("lots", sa.Column("unit", sa.String(8), nullable=False, server_default="points"))
    for column in ("credit", "credit_pending", "credit_debt"):
        op.add_column(
            "members", sa.Column(column, sa.BigInteger(), nullable=False, server_default="0")
        )
    for column in ("cashback", "reversed_cashback"):
        op.add_column(
            "orders", sa.Column(column, sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "credit_payments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("order_ref", sa.String(200), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_credit_payments_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_credit_payments_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_payments")),
    )
    op.create_index(op.f("ix_credit_payments_member_id"), "credit_payments", ["member_id"])


def downgrade() -> None:
    op.drop_table("credit_payments")
    for column in ("cashback", "reversed_cashback"):
        op.drop_column("orders", column)
    for column in ("credit", "credit_pending", "credit_debt"):
        op.drop_column("members", column)
    op.drop_column("lots", "unit")
