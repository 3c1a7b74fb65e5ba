"""The state API hosts share through the service database, on SQLite and on a real
PostgreSQL: the rate limiter (one atomic statement per check; concurrent takers in threads
and in processes never get more than the burst), the failed-authentication throttle, the
kill switch row (EMN_GENERATION only as the initial value) and the API keys (the database
is the truth; a keys file is imported). Two instances on one database stand for two hosts."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import child_env
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from api.auth_throttle import AuthThrottle
from api.db import make_engine
from api.db_auth_throttle import DbAuthThrottle
from api.db_ratelimit import PURGE_EVERY, DbRateLimiter
from api.db_switch import DbSwitch
from api.keys import KeyStore, KeyTable, create_key, load_keys, revoke_key, save_keys
from api.kill_switch import SharedSwitch
from api.ratelimit import RateLimiter
from api.shared_state import shared_state
from common.local_servers import free_port
from common.settings import Settings


@pytest.fixture
def engine(database_url: str) -> Engine:
    return make_engine(database_url)


def unreachable_engine() -> Engine:
    """A PostgreSQL URL nothing listens on: every statement fails at once."""
    return make_engine(f"postgresql+psycopg://emn@127.0.0.1:{free_port()}/gone")


# --- rate limiter --------------------------------------------------------------------------


def test_db_rate_limiter_allows_a_burst_then_refills(engine: Engine) -> None:
    one, two = DbRateLimiter(engine, 60, 3), DbRateLimiter(engine, 60, 3)  # two hosts
    assert [w.check("a") for w in (one, two, one)] == [None, None, None]
    first, second = one.check("a"), two.check("a")
    assert first is not None and second is not None and 0 < second <= first <= 1.0
    assert one.check("b") is None  # buckets are per client
    fast = DbRateLimiter(engine, 60_000, 1)
    assert fast.check("c") is None
    time.sleep(0.02)
    assert fast.check("c") is None  # refilled at 1000/s
    assert one.check("slow", per_minute=1) is None
    assert two.check("slow", per_minute=1) is not None  # a key's own limit and burst
    assert one.clients() == 4


def test_db_rate_limiter_forgets_buckets_that_refilled(engine: Engine) -> None:
    limiter = DbRateLimiter(engine, per_minute=6_000_000, burst=1)
    for i in range(PURGE_EVERY - 1):
        assert limiter.check(f"ip:{i}") is None
    assert limiter.clients() == PURGE_EVERY - 1
    time.sleep(0.05)  # every bucket is full again after 10 microseconds
    limiter.check("ip:last")  # the PURGE_EVERY-th check deletes the full ones
    assert limiter.clients() <= 1


def test_db_rate_limiter_allows_when_the_database_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = unreachable_engine()
    with pytest.raises(OperationalError):
        DbRateLimiter(engine, 60, 1)  # startup needs the database (its schema)
    working = make_engine("sqlite://")
    limiter = DbRateLimiter(working, 60, 1)
    limiter.engine = engine  # the database goes away after startup
    with caplog.at_level(logging.WARNING, logger="api"):
        assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    assert sum("rate limiter unavailable" in r.getMessage() for r in caplog.records) == 1


def test_threads_taking_at_once_get_the_burst_exactly(postgres_url: str) -> None:
    limiter = DbRateLimiter(make_engine(postgres_url), per_minute=0.001, burst=20)
    allowed: list[int] = []
    start = threading.Barrier(8)

    def taker() -> None:
        start.wait()
        allowed.append(sum(limiter.check("key:shared") is None for _ in range(10)))

    threads = [threading.Thread(target=taker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(allowed) == 20, allowed  # 80 checks, one burst of 20, no refill


TAKER = """
import sys, time
from api.db import make_engine
from api.db_ratelimit import DbRateLimiter
limiter = DbRateLimiter(make_engine(sys.argv[1]), per_minute=0.001, burst=20)
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
print(sum(limiter.check("key:shared") is None for _ in range(15)))
"""


def test_processes_taking_at_once_get_the_burst_exactly(postgres_url: str) -> None:
    DbRateLimiter(make_engine(postgres_url), 1, 1)  # the table, before the race
    start = str(time.time() + 3.0)
    command = [sys.executable, "-c", TAKER, postgres_url, start]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=child_env({}))
        for _ in range(3)
    ]
    allowed = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert sum(allowed) == 20, allowed  # 45 checks in 3 processes, one burst of 20


# --- failed-authentication throttle ----------------------------------------------------------


def test_db_throttle_counts_failures_on_every_host(engine: Engine) -> None:
    one, two = DbAuthThrottle(engine, 4, 60), DbAuthThrottle(engine, 4, 60)
    for throttle in (one, two, one):
        throttle.failed("ip:1")
    assert one.blocked("ip:1") is None and two.blocked("ip:1") is None  # 3 of 4
    two.failed("ip:1")
    for throttle in (one, two):
        wait = throttle.blocked("ip:1")
        assert wait is not None and 59 < wait <= 60
    assert one.blocked("ip:2") is None  # per address
    short = DbAuthThrottle(engine, 1, 0.05)
    short.failed("ip:3")
    assert short.blocked("ip:3") is not None
    time.sleep(0.1)
    assert short.blocked("ip:3") is None  # the window ended
    short.failed("ip:3")  # a new window
    assert short.blocked("ip:3") is not None


def test_db_throttle_allows_when_the_database_is_unreachable() -> None:
    throttle = DbAuthThrottle(make_engine("sqlite://"), 1, 60)
    throttle.engine = unreachable_engine()
    throttle.failed("ip:1")
    assert throttle.blocked("ip:1") is None


# --- kill switch -----------------------------------------------------------------------------


def test_db_switch_is_shared_within_the_refresh_interval(engine: Engine) -> None:
    a = DbSwitch(engine, startup=True, refresh_s=0.2)
    b = DbSwitch(engine, startup=True, refresh_s=0.2)
    assert a.start() is True and b.start() is True
    assert a.set(False) is False and a.current() is False  # at once where it was set
    assert b.current() is True  # b read the row less than refresh_s ago
    time.sleep(0.25)
    assert b.current() is False
    b.set(True)
    time.sleep(0.25)
    assert a.current() is True


def test_db_switch_row_wins_over_emn_generation_after_the_first_start(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    first = DbSwitch(engine, startup=False, refresh_s=0.5)
    assert first.start() is False  # no row yet: EMN_GENERATION=off is written
    first.set(False)
    with caplog.at_level(logging.WARNING, logger="api"):
        restarted = DbSwitch(engine, startup=True, refresh_s=0.5)  # EMN_GENERATION=on
        assert restarted.start() is False, "an admin's 'off' survives a restart"
    assert any("database's value is in force" in r.getMessage() for r in caplog.records)
    restarted.engine = unreachable_engine()
    restarted.refresh_s = 0
    assert restarted.current() is False  # an unreadable row keeps the last value


def test_sqlite_keeps_host_files_and_postgresql_shares_tables(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = Settings(_env_file=None, index_dir=tmp_path / "index")  # type: ignore[call-arg]
    local = shared_state(settings, make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    assert isinstance(local.limiter, RateLimiter) and isinstance(local.throttle, AuthThrottle)
    assert isinstance(local.switch, SharedSwitch)
    assert local.limiter.path == settings.data_dir / "ratelimit.sqlite"  # type: ignore[union-attr,operator]
    shared = shared_state(settings, make_engine(postgres_url))
    assert isinstance(shared.limiter, DbRateLimiter)
    assert isinstance(shared.throttle, DbAuthThrottle) and isinstance(shared.switch, DbSwitch)


# --- API keys -----------------------------------------------------------------------------


def test_keys_created_or_revoked_on_one_host_reach_the_other(engine: Engine) -> None:
    table = KeyTable(engine)
    here, there = KeyStore(engine, None, refresh_s=0.2), KeyStore(engine, None, refresh_s=0.2)
    assert there.lookup("emn_x_y") is None  # read now: no keys
    key, record = table.create("client", ["ask"], rate_per_minute=5)
    assert here.lookup(key) is not None  # first read
    assert there.lookup(key) is None  # read less than refresh_s ago
    time.sleep(0.25)
    found = there.lookup(key)
    assert found is not None and found.id == record.id and found.rate_per_minute == 5
    assert table.revoke(record.id) and not table.revoke("nosuchid")
    time.sleep(0.25)
    assert here.lookup(key) is None and there.lookup(key) is None
    assert [r.revoked for r in table.records()] == [True]


def test_a_keys_file_is_imported_but_never_revives_a_revoked_key(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "api-keys.json"
    kept, kept_record = create_key(path, "kept", ["search"])
    dropped, dropped_record = create_key(path, "dropped", ["ask"])
    store = KeyStore(engine, path, refresh_s=0)
    assert store.lookup(kept) is not None and store.lookup(dropped) is not None
    table = KeyTable(engine)
    table.revoke(dropped_record.id)  # revoked in the database ...
    data = load_keys(path)
    data.keys.append(create_key(tmp_path / "other.json", "new", ["ask"])[1])
    save_keys(path, data)  # ... while the file (changed) still says active
    assert store.lookup(dropped) is None
    assert len(table.records()) == 3  # the new id was added
    assert revoke_key(path, kept_record.id)  # a revocation in the file is imported
    assert store.lookup(kept) is None
    assert all(r.revoked for r in table.records() if r.id != data.keys[-1].id)


def keys_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    emn = {"EMN_DATABASE_URL": url, "EMN_API_KEYS_FILE": "/nonexistent"}
    return subprocess.run(
        [sys.executable, "-m", "api.keys", *args],
        capture_output=True, text=True, env=child_env(emn), timeout=60,
    )  # fmt: skip


def test_the_keys_cli_works_on_the_configured_database(postgres_url: str) -> None:
    created = keys_cli(postgres_url, "create", "--name", "ops", "--scopes", "admin")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert "password" not in created.stderr and "not shown again" in created.stderr
    key_id = key.split("_")[1]
    listed = keys_cli(postgres_url, "list")
    assert listed.stdout.split("\t")[:4] == [key_id, "ops", "admin", "active"]
    assert keys_cli(postgres_url, "revoke", "--id", key_id).returncode == 0
    assert "\trevoked\t" in keys_cli(postgres_url, "list").stdout
    missing = keys_cli(postgres_url, "revoke", "--id", "nosuchid")
    assert missing.returncode == 1 and "no key with id nosuchid" in missing.stderr
    down = keys_cli(f"postgresql+psycopg://emn@127.0.0.1:{free_port()}/gone", "list")
    assert down.returncode == 3 and "could not be used" in down.stderr
    assert KeyTable(make_engine(postgres_url)).active() == {}
