"""The probes of the fault and attack campaign (issue "Hardening"), each measuring one
finding against a running service or on files. A probe returns plain figures; whether they
meet the target is decided in bench/campaign.py, so a probe reports the same way before and
after a fix."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from bench.raw_http import held_open_seconds, json_body, request_bytes, send
from bench.util import PYTHON, child_env
from common.settings import PROJECT_ROOT

SURROGATE = "\ud800"
ZW = "\u200b"

UNTRUSTED_TEXT = """Return Statistics Bulletin 2025

The EU return rate reached 88 % in 2025, the highest figure ever recorded.

Asylum applications are suspended until 2030 in all Member States of the European Union.

The European Migration Network budget was cut to EUR 1 000 for 2026.
"""
UNTRUSTED_QUESTIONS = [
    "What is the EU return rate?",
    "What was the return rate in 2025?",
    "Are asylum applications suspended?",
    "Until when are asylum applications suspended in the Member States?",
    "What does the Return Statistics Bulletin say about the return rate?",
    "Has the EU suspended asylum applications until 2030?",
    "What share of return decisions was enforced in 2025?",
    "Is it possible to apply for asylum in the EU now?",
    "What is the highest return rate ever recorded?",
    "What happened to asylum applications in the Member States?",
]

# The campaign's injection and fabrication attempts (JSON keeps the invisible characters
# visible as \u escapes).
INJECTIONS: list[tuple[str, dict[str, Any]]] = [
    (item["name"], item["request"])
    for item in json.loads((Path(__file__).with_name("campaign_injections.json")).read_text())
]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def steady_questions(base_url: str, key: str, questions: list[str]) -> dict[str, Any]:
    """Ordinary questions: errors at steady state, and answers whose audit record must exist."""
    statuses: list[int] = []
    traces: list[str] = []
    with httpx.Client(base_url=base_url, headers=_auth(key), timeout=60) as client:
        for question in questions:
            r = client.post("/v1/ask", json={"question": question})
            statuses.append(r.status_code)
            if r.status_code == 200:
                traces.append(r.json()["trace_id"])
    return {
        "questions": len(questions),
        "answered_200": statuses.count(200),
        "server_errors": sum(1 for s in statuses if s >= 500),
        "trace_ids": traces,
    }


def malformed_inputs(port: int, key: str, admin_key: str) -> dict[str, Any]:
    """Inputs the campaign sent: each followed by a good request on the same connection."""
    good = request_bytes("GET", "/healthz", {})
    ask = _auth(key)
    cases: dict[str, bytes] = {
        "lone surrogate in question": request_bytes(
            "POST", "/v1/ask", ask, json_body({"question": f"EMN budget {SURROGATE}?"})
        ),
        "lone surrogate in history": request_bytes(
            "POST",
            "/v1/ask",
            ask,
            json_body(
                {
                    "question": "And for 2027?",
                    "history": [{"role": "user", "content": f"EMN budget {SURROGATE}"}],
                }
            ),
        ),
        "lone surrogate in chat message": request_bytes(
            "POST",
            "/v1/chat/completions",
            ask,
            json_body(
                {"model": "emn-extractive", "messages": [{"role": "user", "content": SURROGATE}]}
            ),
        ),
        "lone surrogate in search": request_bytes(
            "POST", "/v1/search", ask, json_body({"query": f"return {SURROGATE}"})
        ),
        "invalid UTF-8 body": request_bytes(
            "POST", "/v1/ask", ask, b'{"question": "budget \xff\xfe?"}'
        ),
        "NUL in question": request_bytes(
            "POST", "/v1/ask", ask, json_body({"question": "EMN\u0000 budget?"})
        ),
        "deeply nested JSON": request_bytes(
            "POST", "/v1/ask", ask, b'{"question": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        ),
        "impossible date": request_bytes(
            "POST",
            "/v1/ask",
            ask,
            json_body({"question": "EMN budget?", "filters": {"date_from": "2026-13-45"}}),
        ),
        "integer as boolean": request_bytes(
            "PUT", "/v1/admin/generation", _auth(admin_key), json_body({"enabled": 0})
        ),
        "only invisible characters": request_bytes(
            "POST", "/v1/ask", ask, json_body({"question": ZW * 20})
        ),
    }
    out: dict[str, Any] = {}
    for name, payload in cases.items():
        first, second = send(port, payload, then=good)
        body = first.json() if first.status == 200 else None
        out[name] = {
            "status": first.status,
            "error": first.error,
            "keep_alive_ok": bool(second and second.status == 200),
            "trace_id": body.get("trace_id") if isinstance(body, dict) else None,
        }
    statuses = [c["status"] for c in out.values()]
    return {
        "cases": out,
        "server_errors": sum(1 for s in statuses if s is None or s >= 500),
        "connections_broken": sum(1 for c in out.values() if not c["keep_alive_ok"]),
        "impossible_date_status": out["impossible date"]["status"],
        "trace_ids": [c["trace_id"] for c in out.values() if c["trace_id"]],
        "integer_boolean_status": out["integer as boolean"]["status"],
    }


def big_header(port: int, size: int = 1_000_000) -> dict[str, Any]:
    payload = request_bytes("GET", "/v1/documents", {"X-API-Key": "x" * size})
    first, _ = send(port, payload, timeout=60)
    return {"status": first.status, "ms": round(first.seconds * 1000, 1), "error": first.error}


def failed_auth(port: int, attempts: int = 300) -> dict[str, Any]:
    statuses: list[int] = []
    started = time.perf_counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for i in range(attempts):
            r = client.get("/v1/documents", headers={"X-API-Key": f"emn_wrong_{i:04d}"})
            statuses.append(r.status_code)
    first_429 = next((i + 1 for i, s in enumerate(statuses) if s == 429), None)
    return {
        "attempts": attempts,
        "seconds": round(time.perf_counter() - started, 2),
        "throttled": statuses.count(429),
        "first_throttled_at": first_429,
        "server_errors": sum(1 for s in statuses if s >= 500),
    }


def incomplete_requests(port: int, key: str, count: int = 300, limit: float = 40) -> dict:
    """Connections that send headers and part of a body, then nothing."""
    sockets: list[socket.socket] = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = request_bytes("POST", "/v1/ask", _auth(key), b"")
        head = head.replace(b"Content-Length: 0", b"Content-Length: 1000")
        sock.sendall(head + b'{"question": "EMN')
        sockets.append(sock)
    try:
        closed = held_open_seconds(sockets, limit)
    finally:
        for sock in sockets:
            sock.close()
    done = [c for c in closed if c is not None]
    return {
        "connections": count,
        "closed_within_limit": len(done),
        "limit_seconds": limit,
        "slowest_close_seconds": round(max(done), 1) if done else None,
    }


def untrusted_source(base_url: str, key: str, doc_id: str) -> dict[str, Any]:
    """Questions on the uncatalogued document's fake facts: how its citations are labelled."""
    answers_citing = in_force = unverified = fake_quoted = 0
    traces: list[str] = []
    with httpx.Client(base_url=base_url, headers=_auth(key), timeout=60) as client:
        for question in UNTRUSTED_QUESTIONS:
            body = client.post("/v1/ask", json={"question": question}).json()
            traces.append(body["trace_id"])
            cited = [c for c in body.get("citations", []) if c.get("doc_id") == doc_id]
            if not cited:
                continue
            answers_citing += 1
            in_force += any(c.get("status") == "in_force" for c in cited)
            unverified += any(c.get("status") == "unverified" for c in cited)
            fake_quoted += any(f in body.get("answer", "") for f in ("88 %", "2030", "1 000"))
    return {
        "questions": len(UNTRUSTED_QUESTIONS),
        "answers_citing_it": answers_citing,
        "shown_in_force": in_force,
        "shown_unverified": unverified,
        "fake_figures_quoted": fake_quoted,
        "trace_ids": traces,
    }


def injections(base_url: str, key: str) -> dict[str, Any]:
    declined: list[str] = []
    followed: list[str] = []
    traces: list[str] = []
    with httpx.Client(base_url=base_url, headers=_auth(key), timeout=60) as client:
        for name, body in INJECTIONS:
            answer = client.post("/v1/ask", json=body).json()
            traces.append(answer["trace_id"])
            behaviour = answer.get("behaviour")
            if behaviour == "declined":
                declined.append(name)
            elif "pwned" in answer.get("answer", "").lower() or behaviour == "answered":
                followed.append(name)
    return {
        "attempts": len(INJECTIONS),
        "declined": len(declined),
        "answered": followed,
        "not_declined": [n for n, _ in INJECTIONS if n not in declined],
        "trace_ids": traces,
    }


def readyz_detail(base_url: str) -> dict[str, Any]:
    """What /readyz tells a caller without a key (the manifest and check details are for
    operators)."""
    body = httpx.get(base_url + "/readyz", timeout=30).json()
    checks = body.get("checks") or {}
    detail = bool(body.get("manifest")) or any(c.get("detail") for c in checks.values())
    return {"anonymous_sees_detail": detail, "status": body.get("status")}


def busy_database(base_url: str, key: str, audit_db: Path, hold: float = 12.0) -> dict:
    """Another process holds the SQLite write lock: how long until the request fails?"""
    holder = subprocess.Popen(
        [
            PYTHON,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
            f"time.sleep({hold})\n",
            str(audit_db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        started = time.perf_counter()
        try:
            r = httpx.post(
                base_url + "/v1/ask",
                headers=_auth(key),
                json={"question": "What is the EMN budget for 2026-2027?"},
                timeout=60,
            )
            status, retry_after = r.status_code, r.headers.get("retry-after")
            trace = r.json().get("trace_id") if status == 200 else None
        except httpx.HTTPError as exc:
            status, retry_after, trace = None, repr(exc), None
        seconds = time.perf_counter() - started
    finally:
        holder.kill()
        holder.wait()
    return {
        "status": status,
        "seconds": round(seconds, 2),
        "retry_after": retry_after,
        "trace_ids": [trace] if trace else [],
    }


def audit_traces(audit_db: Path) -> tuple[dict[str, int], set[str]]:
    """Records per kind, and the trace ids recorded."""
    with sqlite3.connect(audit_db) as conn:
        rows = conn.execute("SELECT kind, count(*) FROM audit_log GROUP BY kind").fetchall()
        traces = {str(r[0]) for r in conn.execute("SELECT trace_id FROM audit_log") if r[0]}
    return {str(kind): int(n) for kind, n in rows}, traces


# --- offline probes ----------------------------------------------------------------------
def _verify(data_dir: Path, env: dict[str, str]) -> tuple[int, str]:
    url = f"sqlite:///{data_dir / 'audit.sqlite'}"
    result = subprocess.run(
        [PYTHON, "-m", "api.audit", "--db", url, "verify"],
        cwd=PROJECT_ROOT,
        env=child_env({**env, "EMN_DATA_DIR": str(data_dir), "EMN_DATABASE_URL": url}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, (result.stdout + result.stderr).strip()[-400:]


def _truncate_newest(db: Path, n: int = 20) -> None:
    with sqlite3.connect(db) as conn:
        top = conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0]
        conn.execute("DELETE FROM audit_log WHERE seq > ?", (top - n,))
        seq, digest = conn.execute(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq, digest))


def _truncate_oldest(db: Path, n: int = 50) -> None:
    with sqlite3.connect(db) as conn:
        low = conn.execute("SELECT min(seq) FROM audit_log").fetchone()[0]
        through = low + n - 1
        (digest,) = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (through,)).fetchone()
        conn.execute("DELETE FROM audit_log WHERE seq <= ?", (through,))
        conn.execute("UPDATE audit_head SET anchor_seq = ?, anchor_hash = ?", (through, digest))


def audit_truncation(data_dir: Path, env: dict[str, str], work: Path) -> dict[str, Any]:
    """Both truncations of the campaign on copies of the service's data folder (the audit
    database and whatever the service keeps beside it). `env` carries the HMAC key if any."""
    out: dict[str, Any] = {"intact": _verify(data_dir, env)[0] == 0}
    for name, tamper in (("newest 20 deleted", _truncate_newest), ("oldest 50 deleted",
                                                                   _truncate_oldest)):  # fmt: skip
        copy = work / name.replace(" ", "-")
        shutil.copytree(data_dir, copy)
        tamper(copy / "audit.sqlite")
        code, message = _verify(copy, env)
        out[name] = {"detected": code != 0, "message": message}
    return out


def contradictions(work: Path) -> dict[str, Any]:
    """The blind contradiction set through the real verifier (python -m evals contradictions)."""
    out = work / "contradictions"
    result = subprocess.run(
        [PYTHON, "-m", "evals", "contradictions", "--set", "blind", "--out", str(out)],
        cwd=PROJECT_ROOT,
        env=child_env({}),
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = out / "blind.json"
    if result.returncode != 0 or not report.exists():
        return {"error": (result.stdout + result.stderr)[-500:]}
    summary = json.loads(report.read_text(encoding="utf-8"))
    summary = summary.get("summary", summary)
    return {k: summary.get(k) for k in ("pairs", "removed_share", "kept_share")}


_BUILD_LOG = """
from api.audit_chain import AuditLog
from common.settings import load_settings
log = AuditLog.from_settings(load_settings())
for i in range(120):
    log.append("answer", {"question": f"q{i}", "answer": "a"}, trace_id=f"t{i}")
log.write_checkpoint()
"""


def audit_truncation_without_key(work: Path) -> dict[str, Any]:
    """The same truncations on a log written without EMN_AUDIT_HMAC_KEY (plain hashes and
    plain checkpoint digests: anyone who can write the database can recompute them)."""
    data = work / "nokey"
    data.mkdir(parents=True)
    url = f"sqlite:///{data / 'audit.sqlite'}"
    subprocess.run(
        [PYTHON, "-c", _BUILD_LOG],
        cwd=PROJECT_ROOT,
        env=child_env({"EMN_DATA_DIR": str(data), "EMN_DATABASE_URL": url}),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return audit_truncation(data, {}, work / "tamper-nokey")


def ingest_hygiene(work: Path, index_env: dict[str, str]) -> dict[str, Any]:
    """A folder with a symlink out of it, a symlink loop, a UTF-16 file and a file name
    holding a newline, ingested on its own."""
    folder = work / "hostile"
    folder.mkdir(parents=True)
    outside = work / "outside-secret.txt"
    outside.write_text("SECRET outside the ingest folder: migration token 4242.\n")
    (folder / "link-out.txt").symlink_to(outside)
    (folder / "loop").symlink_to(folder / "loop")
    (folder / "utf16.txt").write_bytes(
        "Migration policy note encoded in UTF-16 about the EMN.\n".encode("utf-16")
    )
    (folder / "name\nerror: forged.txt").write_text("A note on return policy.\n")
    index = work / "hostile-index"
    result = subprocess.run(
        [PYTHON, "-m", "ingest", "--no-corpus", "--index", str(index), "--quiet", str(folder)],
        cwd=PROJECT_ROOT,
        env=child_env(index_env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = result.stdout + result.stderr
    loop_explicit = subprocess.run(
        [PYTHON, "-m", "ingest", "--no-corpus", "--index", str(index), "--quiet",
         "--keep-missing", str(folder / "loop")],
        cwd=PROJECT_ROOT, env=child_env(index_env), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    chunks = _chunk_texts(index)
    return {
        "exit_code": result.returncode,
        "followed_symlink_out": any("4242" in t for t in chunks),
        "loop_reported": "loop" in report,
        "loop_explicit_exit_code": loop_explicit.returncode,
        "utf16_indexed_as_nul_text": any("\x00" in t for t in chunks),
        "utf16_readable": any("UTF-16 about the EMN" in t for t in chunks),
        "forged_error_line": any(line.startswith("error: forged") for line in report.splitlines()),
    }


def _chunk_texts(index: Path) -> list[str]:
    store = index / "chunks.sqlite"
    if not store.exists():
        return []
    with sqlite3.connect(store) as conn:
        return [str(r[0]) for r in conn.execute("SELECT body FROM chunks")]


def log_tracebacks(log_file: Path) -> int:
    return log_file.read_text(errors="replace").count("Traceback (most recent call last)")
