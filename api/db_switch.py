"""The generation kill switch (AI Act Art. 14) shared by every API host: one row in the
service database (PostgreSQL when several hosts serve one deployment).

Each worker reads the row at most every EMN_SHARED_STATE_REFRESH_S (0.5 s by default) and
keeps the value between reads, so a change made through any host is in force on every
worker of every host within that interval plus one request; the worker that made the change
applies it at once. EMN_GENERATION is only the initial value: it is written when the
database has no row yet. Afterwards the row wins (an admin's "off" survives restarts), and a
host that starts with another EMN_GENERATION logs a warning saying so.

With a SQLite service database (one host) the service keeps the file switch of
api/kill_switch.py; both implement `GenerationSwitch`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, Engine, String, Table, select
from sqlalchemy.exc import SQLAlchemyError

from api.db import create_schema, metadata, upsert_insert
from api.shared_sql import QuietWarning

log = logging.getLogger("api")

GENERATION = "generation"

service_switches = Table(
    "service_switches",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("changed_by", String(16), nullable=False),  # 'startup' or 'admin'
    Column("changed_at", String(32), nullable=False),  # UTC, ISO 8601
    Column("host", String(255), nullable=False),  # hostname:pid of the process that wrote it
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class DbSwitch:
    """Generation on/off, one row shared by every process that uses `engine`'s database."""

    def __init__(
        self, engine: Engine, startup: bool, refresh_s: float, name: str = GENERATION
    ) -> None:
        self.engine = engine
        self.startup = startup
        self.refresh_s = refresh_s
        self.name = name
        self._value = startup
        self._read_at = float("-inf")
        self._warn = QuietWarning(log)
        create_schema(engine)

    def _row(self, enabled: bool, by: str) -> dict[str, object]:
        host = f"{socket.gethostname()}:{os.getpid()}"
        return {"name": self.name, "enabled": enabled, "changed_by": by,
                "changed_at": _now(), "host": host}  # fmt: skip

    def start(self) -> bool:
        """The value in force: the row's, or EMN_GENERATION written as the row if there is
        none yet. Warns when EMN_GENERATION differs from the row."""
        with self.engine.begin() as conn:
            first = upsert_insert(self.engine, service_switches).values(
                **self._row(self.startup, "startup")
            )
            conn.execute(first.on_conflict_do_nothing())
            row = conn.execute(
                select(service_switches).where(service_switches.c.name == self.name)
            ).one()
        if row.enabled != self.startup:
            log.warning(
                "EMN_GENERATION is %s but the shared kill switch in the service database is %s "
                "(set by %s on %s at %s): the database's value is in force; change it with "
                "PUT /v1/admin/generation",
                "on" if self.startup else "off", "on" if row.enabled else "off",
                row.changed_by, row.host, row.changed_at,
            )  # fmt: skip
        self._value = bool(row.enabled)
        self._read_at = time.monotonic()
        return self._value

    def set(self, enabled: bool) -> bool:
        """Turn generation on or off for every worker of every host; returns the value now
        in force. Raises SQLAlchemyError when the database cannot be written."""
        row = self._row(enabled, "admin")
        statement = upsert_insert(self.engine, service_switches).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=[service_switches.c.name],
            set_={k: statement.excluded[k] for k in row if k != "name"},
        )
        with self.engine.begin() as conn:
            conn.execute(statement)
        if enabled != self._value:
            log.warning("generation switched %s (admin, shared)", "on" if enabled else "off")
        self._value = enabled
        self._read_at = time.monotonic()
        return self._value

    def current(self) -> bool:
        """The value in force, read from the database at most every `refresh_s`; an
        unreachable database keeps the last value read."""
        if time.monotonic() - self._read_at < self.refresh_s:
            return self._value
        try:
            with self.engine.connect() as conn:
                enabled = conn.execute(
                    select(service_switches.c.enabled).where(service_switches.c.name == self.name)
                ).scalar_one_or_none()
        except SQLAlchemyError as exc:
            self._warn("kill switch unreadable (%s); keeping %s", exc.__class__.__name__,
                       "on" if self._value else "off")  # fmt: skip
            return self._value
        self._read_at = time.monotonic()
        if enabled is not None and bool(enabled) != self._value:
            log.warning("generation switched %s (shared switch)", "on" if enabled else "off")
            self._value = bool(enabled)
        return self._value
