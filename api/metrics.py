"""Prometheus metrics: requests by route and status, latency, per-step pipeline latency
(from `Answer.timings`), answers by behaviour, feedback by rating. One registry per app, so
apps built in the same process (tests) do not share counters."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.answer import Answer

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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

    def observe_answer(self, answer: Answer, endpoint: str) -> None:
        self.answers.labels(answer.behaviour, answer.versions.composer, endpoint).inc()
        for step, ms in answer.timings.items():
            self.steps.labels(step).observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
