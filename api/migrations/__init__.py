"""Alembic migrations of the service database, shipped inside the package (run them with
`python -m api.schema_migrations`, never with an alembic.ini)."""
