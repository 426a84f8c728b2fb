"""Key changes told: PostgreSQL notifies `fidela_keys` of every changed or deleted key

Each API worker remembers the keys it checked lately and forgets one when told of its
change (`store.keys.KeyListener`). SQLite cannot tell other processes: there every
request checks its key in the database.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION fidela_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('fidela_keys', OLD.id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys"
        " FOR EACH ROW EXECUTE FUNCTION fidela_key_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER api_keys_changed ON api_keys")
    op.execute("DROP FUNCTION fidela_key_changed()")
