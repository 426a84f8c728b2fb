"""A line's member is its transaction's: the lines lose their foreign key to the members

Every line of a transaction carries the transaction's member, whose own foreign key
already holds it to the members table, and `fidela ledger verify` names a line whose
member differs from its transaction's. The second key only cost PostgreSQL a look-up
and a row lock for every line written: 14 % of the time the raw ceiling of expiry takes
to store its rows (docs/benchmarks.md, section 2). SQLite rebuilds the table.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lines") as batch_op:
        batch_op.drop_constraint("fk_lines_member_id_members", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("lines") as batch_op:
        batch_op.create_foreign_key("fk_lines_member_id_members", "members", ["member_id"], ["id"])
