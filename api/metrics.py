"""Prometheus metrics: requests by route and status, latency, per-step pipeline latency
(from `Answer.timings`), answers by behaviour, feedback by rating, live worker processes.
Under `python -m api` the workers share them through files (api/metrics_multiprocess.py), so
a scrape sums the whole host; otherwise one registry per app, so apps built in the same
process (tests) do not share counters."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics_multiprocess import drop_dead_gauges
from rag.answer import Answer

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        """`multiprocess_dir`: the folder prometheus_client writes this process's metrics to
        (`metrics_multiprocess.active_dir()`), or None for metrics kept in this app."""
        self.multiprocess_dir = multiprocess_dir
        # In multiprocess mode the metrics are read back from the files at each scrape;
        # registered here as well, they would be exported twice.
        self.registry = CollectorRegistry() if multiprocess_dir is None else None
        self.requests = Counter(
            "emn_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "emn_http_request_duration_seconds",
            "HTTP request latency until the response is complete.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.steps = Histogram(
            "emn_pipeline_step_duration_seconds",
            "Latency of each answering pipeline step (guard_in, retrieve, compose, ...).",
            ["step"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter(
            "emn_answers",
            "Answers by behaviour, composer and endpoint.",
            ["behaviour", "composer", "endpoint"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "emn_feedback", "Feedback received by rating.", ["rating"], registry=self.registry
        )
        self.workers = Gauge(
            "emn_worker_processes",
            "Worker processes serving now (a killed worker drops out at the next scrape).",
            multiprocess_mode="livesum",
            registry=self.registry,
        )

    def worker_started(self) -> None:
        self.workers.set(1)

    def worker_stopped(self) -> None:
        """At a worker's shutdown: its live gauges go, its counters stay in the sum."""
        if self.multiprocess_dir is None:
            self.workers.set(0)
            return
        with contextlib.suppress(FileNotFoundError):
            mark_process_dead(os.getpid(), str(self.multiprocess_dir))

    def observe_answer(self, answer: Answer, endpoint: str) -> None:
        self.answers.labels(answer.behaviour, answer.versions.composer, endpoint).inc()
        for step, ms in answer.timings.items():
            self.steps.labels(step).observe(ms / 1000.0)

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            assert self.registry is not None
            return generate_latest(self.registry)
        drop_dead_gauges(self.multiprocess_dir)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.multiprocess_dir))
        return generate_latest(registry)


class MetricsMiddleware:
    """Counts every HTTP request under its route template ('unmatched' for unknown paths,
    so random URLs cannot blow up the label set); streaming responses are timed to the end."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) if route is not None else None
            if template is None:
                template = "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)
