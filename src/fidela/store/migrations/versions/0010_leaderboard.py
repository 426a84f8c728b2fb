"""The leaderboard: a member opts in with the name it shows

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("leaderboard_name", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("members", "leaderboard_name")
