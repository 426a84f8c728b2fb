"""Points held above the daily cap: held lots and each member's held balance

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, as in 0006: SQLite adds the columns in place. The defaults fill
    # the rows stored before: nothing was held.
    op.add_column("lots", sa.Column("held", sa.Boolean(), nullable=False, server_default="0"))
    op.add_column("members", sa.Column("held", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("members", "held")
    op.drop_column("lots", "held")
