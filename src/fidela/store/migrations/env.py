"""Alembic's entry point: migrations run on the connection Fidela hands over.

`target_metadata` is only given when a developer autogenerates a new revision
(see docs/development.md); running migrations never reads the current tables.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("target_metadata"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
