"""Small helpers shared by the benchmark parts: latency summaries, memory, the machine, workers."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from common.settings import PROJECT_ROOT
from evals.metrics import percentile

PYTHON = sys.executable
DEFAULT_OUT = PROJECT_ROOT / "evals" / "reports" / "bench"


class BenchError(RuntimeError):
    """A benchmark part could not run (the message says which and why)."""


# --- statistics -------------------------------------------------------------------------
def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def summary(values: Iterable[float]) -> dict[str, float | int | None]:
    """n, mean, p50, p95, p99, max of a list of milliseconds."""
    data = [float(v) for v in values]
    return {
        "n": len(data),
        "mean": round(sum(data) / len(data), 3) if data else None,
        "p50": _ms(percentile(data, 50)),
        "p95": _ms(percentile(data, 95)),
        "p99": _ms(percentile(data, 99)),
        "max": round(max(data), 3) if data else None,
    }


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, digits)


# --- memory -----------------------------------------------------------------------------
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def rss_mb(pid: int | None = None, children: bool = False) -> float | None:
    """Current resident memory of a process (and optionally its children), in MiB."""
    import psutil

    try:
        proc = psutil.Process(pid or os.getpid())
        total = proc.memory_info().rss
        if children:
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
    except psutil.Error:
        return None
    return round(total / (1024 * 1024), 1)


def dir_size_mb(path: Path) -> float:
    total = 0
    for item in path.rglob("*"):
        with contextlib.suppress(OSError):
            if item.is_file():
                total += item.stat().st_size
    return round(total / (1024 * 1024), 2)


def copy_sqlite(source: Path, target: Path) -> bool:
    """A consistent copy of a SQLite database (its write-ahead log included); False when
    there is none or it cannot be read."""
    if not source.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src, dst = sqlite3.connect(str(source)), sqlite3.connect(str(target))
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error:
        return False
    return True


# --- the machine ------------------------------------------------------------------------
def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    with contextlib.suppress(OSError):
        return [round(x, 2) for x in os.getloadavg()]
    return []


def machine_info() -> dict[str, Any]:
    import psutil

    return {
        "cpu": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in (
                "torch",
                "sentence-transformers",
                "chromadb",
                "bm25s",
                "fastapi",
                "uvicorn",
                "locust",
                "langchain-core",
                "numpy",
            )
        },
        "load_average_start": load_average(),
    }


def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "-s"))}


# --- processes --------------------------------------------------------------------------
def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment, offline, with the project importable, plus `extra`."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    env.update(extra or {})
    return env


def run_worker(
    part: str, params: dict[str, Any], workdir: Path, timeout: float = 3600.0
) -> dict[str, Any]:
    """Run `python -m bench worker PART` in a fresh process and return its JSON result.

    A fresh process per part: its peak memory is its own, and a crash is reported, not
    fatal to the other parts."""
    workdir.mkdir(parents=True, exist_ok=True)
    params_file = workdir / f"{part}-params.json"
    result_file = workdir / f"{part}-result.json"
    log_file = workdir / f"{part}.log"
    params_file.write_text(json.dumps(params, default=str), encoding="utf-8")
    result_file.unlink(missing_ok=True)
    started = time.perf_counter()
    with log_file.open("wb") as log:
        proc = subprocess.run(
            [PYTHON, "-m", "bench", "worker", part, str(params_file), str(result_file)],
            cwd=PROJECT_ROOT,
            env=child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    if proc.returncode != 0 or not result_file.exists():
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-25:])
        raise BenchError(f"benchmark part {part!r} failed (exit {proc.returncode}):\n{tail}")
    result = json.loads(result_file.read_text(encoding="utf-8"))
    result["process_seconds"] = round(time.perf_counter() - started, 2)
    return result


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
