"""Where deleted text could linger in the service database, on SQLite and on PostgreSQL: the
store tests check that erasure, purge and deletion leave it nowhere the database keeps."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

# Every row version on a table's pages, dead ones included (PostgreSQL's pageinspect reads
# the pages through the buffer cache: what VACUUM has not yet removed is still there).
ROW_VERSIONS = """
SELECT count(*)
FROM generate_series(
         0,
         (pg_relation_size(CAST(:table AS regclass)) / current_setting('block_size')::int - 1)::int
     ) AS block,
     heap_page_items(get_raw_page(CAST(:table AS text), block)) AS item
WHERE item.t_data IS NOT NULL AND position(convert_to(:needle, 'UTF8') IN item.t_data) > 0
"""


def stored_anywhere(engine: Engine, needle: str, tables: tuple[str, ...]) -> bool:
    """Whether `needle` is still kept by the database. SQLite: anywhere in the database file
    or its write-ahead log. PostgreSQL: in any row version, live or dead, of `tables` (dead
    versions stay until VACUUM)."""
    if engine.dialect.name == "sqlite":
        db = Path(str(engine.url.database))
        files = db.parent.glob(db.name + "*")
        return any(needle.encode() in file.read_bytes() for file in files)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
        found = sum(
            int(conn.execute(text(ROW_VERSIONS), {"table": t, "needle": needle}).scalar_one())
            for t in tables
        )
        conn.commit()
    return found > 0
