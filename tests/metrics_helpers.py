"""Helpers of the metrics tests: reading a scrape, and Python processes that write metrics
in Prometheus multiprocess mode the way the API's workers do."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import PROJECT_ROOT, child_env
from prometheus_client.parser import text_string_to_metric_families

from api.metrics_run import ENV


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


WORKER = """
import os, signal, sys
from api.metrics import Metrics
from api.metrics_multiprocess import active_dir
metrics = Metrics(active_dir())
assert metrics.multiprocess_dir is not None
metrics.worker_started()
for _ in range({count}):
    metrics.requests.labels("/v1/models", "GET", "200").inc()
    metrics.latency.labels("/v1/models", "GET").observe(0.02)
if {killed}:
    os.kill(os.getpid(), signal.SIGKILL)
metrics.worker_stopped()
"""

SCRAPER = """
import sys
from api.metrics import Metrics
from api.metrics_multiprocess import active_dir
metrics = Metrics(active_dir())
metrics.worker_started()
sys.stdout.write(metrics.render().decode())
"""


def run_python(code: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh Python process whose metrics go to `folder` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=PROJECT_ROOT,
        env=child_env({}) | {ENV: str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
    )
