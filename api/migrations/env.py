"""Alembic's entry point, run by api/schema_migrations.py: it migrates through the connection
passed in `config.attributes["connection"]` (already inside the transaction that holds the
migration lock), so no alembic.ini and no URL are needed here."""

from __future__ import annotations

from alembic import context

from api.schema_migrations import schema_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations with `python -m api.schema_migrations upgrade`, not the alembic command"
    )
context.configure(connection=connection, target_metadata=schema_metadata())
with context.begin_transaction():
    context.run_migrations()
