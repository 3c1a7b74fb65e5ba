"""Chroma server mode: when the Chroma server stops, answers and readiness are 503
`chroma_unavailable` (never a 500, never a hang); when it comes back on the same port and
path, the service answers again by itself, without a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from api_helpers import BUDGET_FIGURE, BUDGET_QUESTION, assert_error
from conftest import (
    ApiServer,
    child_env,
    copy_index,
    free_port,
    settings_env,
    start_api_server,
)
from openai import InternalServerError, OpenAI

from common.chroma_server import ChromaServer
from common.settings import Settings
from ingest.pipeline import run_ingest

pytestmark = pytest.mark.slow


@dataclass
class Stack:
    chroma: ChromaServer
    api: ApiServer
    statuses: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def stack(
    default_index_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("api-chroma")
    chroma = ChromaServer(
        workdir / "chroma-data", free_port(), workdir / "chroma.log", env=child_env({})
    )
    chroma.start()
    api = None
    try:
        # Only the embedding cache is copied: ingesting into the server embeds nothing new.
        local = copy_index(default_index_settings, workdir / "index", vectors=False)
        settings = local.model_copy(update={"chroma_mode": "server", "chroma_port": chroma.port})
        run_ingest(settings, progress=False)
        api = start_api_server(
            workdir / "api",
            {
                **settings_env(settings),
                "EMN_RATE_LIMIT_PER_MINUTE": "100000",
                "EMN_RATE_LIMIT_BURST": "10000",
            },
        )
        yield Stack(chroma, api)
    finally:
        if api is not None:
            api.stop()
        chroma.stop()


def ask_status(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/ask", json={"question": BUDGET_QUESTION})


def test_chroma_outage_gives_503_and_the_service_recovers_by_itself(stack: Stack) -> None:
    client = httpx.Client(base_url=stack.api.base_url, timeout=30)
    openai_client = OpenAI(base_url=stack.api.url("/v1"), api_key="x", max_retries=0)
    assert ask_status(client).status_code == 200
    assert client.get("/readyz").status_code == 200

    # A client keeps asking through the outage and the recovery.
    statuses: list[int] = []
    stop = threading.Event()

    def keep_asking() -> None:
        with httpx.Client(base_url=stack.api.base_url, timeout=30) as own:
            while not stop.is_set():
                statuses.append(ask_status(own).status_code)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        time.sleep(0.5)
        stack.chroma.stop()

        down = ask_status(client)
        error = assert_error(down, 503, "chroma_unavailable")
        assert "vector store" in error["message"] and "127.0.0.1" not in error["message"]
        assert int(down.headers["retry-after"]) >= 1
        ready = client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not_ready" and body["error"]["code"] == "chroma_unavailable"
        assert body["checks"]["chroma"]["ok"] is False and body["checks"]["index"]["ok"] is True
        assert_error(client.post("/v1/search", json={"query": "budget"}), 503, "chroma_unavailable")
        assert_error(
            client.post("/v1/ask?stream=true", json={"question": BUDGET_QUESTION}),
            503,
            "chroma_unavailable",
        )
        with pytest.raises(InternalServerError) as raised:
            openai_client.chat.completions.create(
                model="emn-extractive", messages=[{"role": "user", "content": BUDGET_QUESTION}]
            )
        assert raised.value.status_code == 503
        assert client.get("/healthz").status_code == 200  # the process itself is fine
        assert client.get("/v1/documents").status_code == 200  # served from the chunk store

        stack.chroma.start()  # same port, same data

        deadline = time.monotonic() + 30
        while ask_status(client).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        back = ask_status(client)
        assert back.status_code == 200 and BUDGET_FIGURE in back.json()["answer"]
        assert client.get("/readyz").status_code == 200
        completion = openai_client.chat.completions.create(
            model="emn-extractive", messages=[{"role": "user", "content": BUDGET_QUESTION}]
        )
        assert BUDGET_FIGURE in (completion.choices[0].message.content or "")
        time.sleep(0.5)
    finally:
        stop.set()
        asker.join(timeout=60)
        client.close()
    assert set(statuses) <= {200, 503}, statuses
    assert 503 in statuses and statuses[-1] == 200
