"""`python -m bench cluster` with very short phases: real PostgreSQL, a real Chroma server,
two `python -m api` hosts behind a real nginx, Locust through nginx, one host SIGKILLed and
restarted. What could fail is asserted (no timing): both hosts answered, the killed host came
back and answered through nginx again, every answer given is on record in PostgreSQL exactly
once, the chain verifies, and the report is written where asked (never the committed one)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import child_env

from common.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.slow

COMMITTED = PROJECT_ROOT / "evals" / "reports" / "cluster"


def _fingerprint(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_cluster_bench_serves_through_both_hosts_survives_a_kill_and_loses_no_record(
    tmp_path: Path, default_index_settings: Settings
) -> None:
    # default_index_settings: the session's ingest fills the embedding cache the bench seeds
    # its Chroma server from, so it embeds nothing.
    committed_before = _fingerprint(COMMITTED)
    out = tmp_path / "report"
    command = [
        sys.executable, "-m", "bench", "cluster", "--out", str(out),
        "--workdir", str(tmp_path / "work"), "--users", "3", "--limit", "20",
        "--scale-seconds", "6", "--failover-seconds", "16", "--down-seconds", "1",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=child_env({}), capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]

    result = json.loads((out / "cluster.json").read_text(encoding="utf-8"))
    assert result["errors"] == {}
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# Cluster benchmark")
    assert (out / "failover.png").stat().st_size > 0
    assert _fingerprint(COMMITTED) == committed_before

    # Scaling: one host answered everything, then both hosts answered through nginx.
    assert set(result["one_host"]["answers_by_host"]) == {"host1"}
    two = result["two_hosts"]["answers_by_host"]
    assert two.get("host1", 0) > 0 and two.get("host2", 0) > 0
    assert result["one_host"]["errors"] == 0 and result["two_hosts"]["errors"] == 0

    # Failover: the killed host came back and answered through nginx after its restart;
    # only requests in flight at the kill failed, none before it or after the recovery.
    fail = result["failover"]
    assert fail["victim"] == "host2"
    assert fail["ready_after_restart_s"] is not None
    assert fail["first_answer_after_restart_s"] is not None and fail["recovery_s"] is not None
    assert fail["errors_before_kill"] == 0 and fail["errors_after_recovery"] == 0
    assert set(fail["statuses_around_kill"]) <= {"502"}
    after_restart = fail["timeline"]["host2"][int(fail["restart_at_s"]) + 1 :]
    assert sum(after_restart) > 0

    # Audit: every answer a client received is on record once; a record without a delivered
    # answer can only be a request in flight on the killed host.
    audit = result["audit"]
    assert audit["answers_given"] > 0
    assert audit["answers_without_record"] == 0, audit["trace_ids_without_record"]
    assert audit["duplicate_records"] == 0
    assert audit["distinct_answers_given"] == audit["answers_given"]
    assert audit["records_without_delivered_answer"] <= fail["errors_around_kill"]
    assert audit["answer_records"] == (
        audit["answers_given"] + audit["records_without_delivered_answer"]
    )

    # The chain verifies on PostgreSQL against each host's checkpoints.
    assert len(result["verify"]) == 2
    for check in result["verify"]:
        assert check["exit_code"] == 0, check["output"]
        assert "audit chain OK" in check["output"]
    statuses = {t["goal"]: t["status"] for t in result["targets"]}
    assert statuses["the audit chain verifies on PostgreSQL (every host's checkpoints)"] == "met"
