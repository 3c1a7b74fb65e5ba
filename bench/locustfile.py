"""Locust load for the benchmark: closed-loop clients posting dev questions to /v1/ask.

Run by `bench.http_bench.load` (headless, loopback only, bounded by `-t`); it reads the
questions from BENCH_QUESTIONS (a JSON list file) and writes every request's latency and
status to BENCH_SAMPLES (JSON) when Locust quits, so percentiles are exact rather than
Locust's rounded buckets. With BENCH_EVENTS set (the cluster benchmark), it also writes each
/v1/ask's end time, trace id and the upstream a reverse proxy names in X-Upstream, so answers
can be matched with audit records and placed on a timeline; with BENCH_STOP_FILE set, the
run ends as `-t` ends it (each user finishes its request) as soon as that file exists.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from pathlib import Path

import gevent
from locust import FastHttpUser, constant, events, task

_QUESTIONS: list[str] = json.loads(Path(os.environ["BENCH_QUESTIONS"]).read_text("utf-8"))
_NEXT = itertools.count()
_LOCK = threading.Lock()
_SAMPLES: list[tuple[float, int, bool]] = []  # (ms, status, ok)
_EVENTS_FILE = os.environ.get("BENCH_EVENTS")
# (end unix time, ms, status, ok, trace id or "", upstream or "")
_EVENTS: list[tuple[float, float, int, bool, str, str]] = []


@events.request.add_listener
def _record(response_time: float, response: object = None, exception: object = None, **_: object):
    status = int(getattr(response, "status_code", 0) or 0)
    with _LOCK:
        _SAMPLES.append((float(response_time), status, exception is None))


@events.quitting.add_listener
def _dump(**_: object) -> None:
    target = os.environ.get("BENCH_SAMPLES")
    if target:
        Path(target).write_text(json.dumps(_SAMPLES), encoding="utf-8")
    if _EVENTS_FILE:
        Path(_EVENTS_FILE).write_text(json.dumps(_EVENTS), encoding="utf-8")


@events.init.add_listener
def _watch_stop_file(environment: object, **_: object) -> None:
    stop_file = os.environ.get("BENCH_STOP_FILE")
    if not stop_file:
        return

    def watch() -> None:
        while not Path(stop_file).exists():
            gevent.sleep(0.2)
        environment.runner.quit()  # type: ignore[attr-defined]  # graceful: --stop-timeout

    gevent.spawn(watch)


def _trace_id(response: object) -> str:
    try:
        return str(response.json().get("trace_id") or "")  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return ""


class AskUser(FastHttpUser):
    wait_time = constant(0)  # closed loop: the next question as soon as the answer arrives

    @task
    def ask(self) -> None:
        question = _QUESTIONS[next(_NEXT) % len(_QUESTIONS)]
        started = time.perf_counter()
        with self.client.post(
            "/v1/ask",
            json={"question": question, "composer": "extractive"},
            name="/v1/ask",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif '"behaviour"' not in (response.text or ""):
                response.failure("no answer in the response")
            else:
                response.success()
            if _EVENTS_FILE:
                ok = response.status_code == 200 and '"behaviour"' in (response.text or "")
                event = (
                    time.time(),
                    (time.perf_counter() - started) * 1000,
                    int(response.status_code or 0),
                    ok,
                    _trace_id(response) if ok else "",
                    str(response.headers.get("X-Upstream") or "") if response.headers else "",
                )
                with _LOCK:
                    _EVENTS.append(event)
