"""Prometheus multiprocess mode without a server: the run folder's lock and cleaning, dropping
a dead process's live gauges, and real processes (one stopped, one SIGKILLed) summed by a
third one's scrape. The test process itself imported prometheus_client without
PROMETHEUS_MULTIPROC_DIR, so its apps keep their own registries."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from conftest import python_output
from metrics_helpers import SCRAPER, WORKER, run_python, sample

from api.metrics import Metrics
from api.metrics_multiprocess import active_dir, drop_dead_gauges
from api.metrics_run import LOCK_FILE, RUN_FOLDER, MetricsDirInUseError, start_run
from common.settings import Settings


def test_the_metrics_dir_defaults_to_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, index_dir=tmp_path / "index")  # type: ignore[call-arg]
    assert settings.metrics_dir == tmp_path / "data" / "metrics"
    chosen = Settings(_env_file=None, index_dir=tmp_path / "index", metrics_dir=tmp_path / "m")  # type: ignore[call-arg]
    assert chosen.metrics_dir == tmp_path / "m"


def test_a_run_starts_empty_and_holds_its_folder(tmp_path: Path) -> None:
    stale = tmp_path / RUN_FOLDER / "counter_12345.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from a previous run")
    run = start_run(tmp_path)
    try:
        assert run.path == tmp_path / RUN_FOLDER and list(run.path.iterdir()) == []
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(MetricsDirInUseError) as refused:
            start_run(tmp_path)  # a second server on the same folder
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message and "EMN_METRICS_DIR" in message
        (run.path / "counter_1.db").write_bytes(b"live")
        assert (run.path / "counter_1.db").exists()  # the refused start wiped nothing
    finally:
        run.close()
    again = start_run(tmp_path)  # the first server is gone: the next run may start
    again.close()
    assert list(again.path.iterdir()) == []


def test_only_dead_processes_lose_their_live_gauges(tmp_path: Path) -> None:
    names = ["gauge_livesum_111.db", "gauge_livemax_111.db", "gauge_livesum_222.db",
             "counter_111.db", "histogram_111.db", "gauge_all_111.db"]  # fmt: skip
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert drop_dead_gauges(tmp_path, alive=lambda pid: pid == 222) == [111]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(set(names) - {"gauge_livesum_111.db", "gauge_livemax_111.db"})


def test_apps_in_one_process_keep_their_own_counters() -> None:
    assert active_dir() is None  # prometheus_client was imported without the folder
    first, second = Metrics(), Metrics()
    first.requests.labels("/v1/models", "GET", "200").inc()
    text = second.render().decode()
    assert sample(text, "emn_http_requests_total") == 0
    assert sample(first.render().decode(), "emn_http_requests_total") == 1


def test_a_scrape_sums_stopped_and_killed_processes(tmp_path: Path) -> None:
    stopped = run_python(WORKER.format(count=3, killed=False), tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    killed = run_python(WORKER.format(count=2, killed=True), tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    scrape = run_python(SCRAPER, tmp_path)
    assert scrape.returncode == 0, scrape.stderr
    text = scrape.stdout
    route = {"route": "/v1/models", "method": "GET"}
    assert sample(text, "emn_http_requests_total", **route, status="200") == 5
    assert sample(text, "emn_http_request_duration_seconds_count", **route) == 5
    assert sample(text, "emn_http_request_duration_seconds_bucket", **route, le="0.025") == 5
    # Only the scraping process is alive: the stopped and the killed ones are not counted.
    assert sample(text, "emn_worker_processes") == 1
    assert 'pid="' not in text


def test_python_m_api_sets_the_folder_before_prometheus_client_is_imported() -> None:
    """With one worker, uvicorn serves the app in the `python -m api` process itself: had it
    imported prometheus_client before setting the folder, that worker would keep its metrics
    in memory, apart from the run's files."""
    code = "import sys, api.__main__; print('prometheus_client' in sys.modules)"
    assert python_output(code).strip() == "False"
