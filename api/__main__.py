"""`python -m api`: serve the API with uvicorn on EMN_API_HOST:EMN_API_PORT, with
EMN_API_WORKERS worker processes (auto: one per usable core, at most 4), each running the
embedding model on EMN_TORCH_THREADS threads (auto: its share of the cores). The workers
write their Prometheus metrics to a fresh folder under EMN_METRICS_DIR, so each scrape of
/metrics sums the whole server (api/metrics_run.py)."""

from __future__ import annotations

import os

import uvicorn

from api.metrics_run import ENV as METRICS_ENV
from api.metrics_run import MetricsDirInUseError, start_run
from api.protocol import HTTP_PROTOCOL
from common.settings import load_settings


def main() -> None:
    settings = load_settings()
    url = f"http://{settings.api_host}:{settings.api_port}"
    workers = settings.resolved_api_workers
    threads = settings.torch_threads_for(workers)
    # The workers read their share of the cores from it (auto resolves the same way there).
    os.environ["EMN_API_WORKERS"] = str(workers)
    assert settings.metrics_dir is not None  # resolved by Settings
    try:
        metrics_run = start_run(settings.metrics_dir)
    except MetricsDirInUseError as exc:
        raise SystemExit(f"EMN policy assistant API: {exc}") from None
    # Before any worker imports prometheus_client (the workers inherit it; with one worker,
    # this process imports it later, in api.main).
    os.environ[METRICS_ENV] = str(metrics_run.path)
    print(f"EMN policy assistant API: {url}  (docs {url}/docs, auth mode {settings.auth_mode})")
    print(
        f"{workers} worker process(es) (EMN_API_WORKERS={settings.api_workers}), "
        f"{threads} torch thread(s) each (EMN_TORCH_THREADS={settings.torch_threads}); "
        f"their metrics, summed at /metrics: {metrics_run.path} (EMN_METRICS_DIR)",
        flush=True,
    )
    # The import string (not the app object) lets uvicorn start each worker with its own app;
    # the protocol enforces the header size limit and the header and keep-alive timeouts.
    uvicorn.run(
        "api.main:app",
        host=settings.api_host,
        port=settings.api_port,
        workers=workers,
        http=HTTP_PROTOCOL,
        timeout_keep_alive=max(1, round(settings.keep_alive_timeout_s)),
    )
    metrics_run.close()


if __name__ == "__main__":
    main()
