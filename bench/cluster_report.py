"""cluster.json -> targets, the throughput ceiling, report.md and failover.png for
`python -m bench cluster` (each figure from the run; a part that did not run says so)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench.util import ratio
from evals.report import markdown_table

HELPERS = ("postgres", "chroma", "nginx", "locust")
RECOVERY_TARGET_S = 10.0
RATIO_TARGET = 1.7


def server_versions() -> dict[str, str]:
    """PostgreSQL's and nginx's own version lines (the Python packages are in `machine`)."""
    from bench.cluster_stack import nginx_binary
    from common.postgres_server import postgres_bin_dir

    out: dict[str, str] = {}
    for name, command in (
        ("postgresql", lambda: [str(postgres_bin_dir() / "postgres"), "--version"]),
        ("nginx", lambda: [nginx_binary(), "-v"]),
    ):
        try:
            done = subprocess.run(command(), capture_output=True, text=True, timeout=10)
            out[name] = (done.stdout + done.stderr).strip()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            out[name] = f"unavailable ({exc})"
    return out


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def steady_errors(result: dict[str, Any]) -> int | None:
    parts = [
        _get(result, "one_host", "errors"),
        _get(result, "two_hosts", "errors"),
        _get(result, "failover", "errors_before_kill"),
        _get(result, "failover", "errors_after_recovery"),
    ]
    return None if any(p is None for p in parts) else sum(parts)


def ceiling(result: dict[str, Any]) -> dict[str, Any] | None:
    """What two hosts could reach on this machine from the CPU each answer costs: every
    component's CPU milliseconds per answer in the two-host phase, and the answers/s all
    cores would give if they did nothing else (cores / CPU per answer)."""
    two, one = result.get("two_hosts"), result.get("one_host")
    if not two or not one or not two.get("answers") or "cpu" not in two:
        return None
    cores = (result.get("machine") or {}).get("cores_logical") or len(
        two["cpu"].get("core_busy_share") or []
    )
    per_answer = {
        name: round(1000 * seconds / two["answers"], 1)
        for name, seconds in two["cpu"]["cpu_seconds"].items()
    }
    hosts_ms = sum(v for k, v in per_answer.items() if k not in HELPERS)
    helpers_ms = sum(v for k, v in per_answer.items() if k in HELPERS)
    total_ms = hosts_ms + helpers_ms
    bound = round(1000 * cores / total_ms, 2) if total_ms else None
    # the cores processes outside the cluster took (other test suites on a shared machine)
    others = (two["cpu"].get("other_cpu_seconds") or 0) / (two["cpu"].get("wall_seconds") or 1)
    left = max(0.0, cores - others)
    bound_left = round(1000 * left / total_ms, 2) if total_ms else None
    return {
        "cores": cores,
        "cpu_ms_per_answer": per_answer,
        "hosts_ms_per_answer": round(hosts_ms, 1),
        "helpers_ms_per_answer": round(helpers_ms, 1),
        "helpers_share": round(helpers_ms / total_ms, 3) if total_ms else None,
        "other_cpu_seconds": two["cpu"].get("other_cpu_seconds"),
        "machine_busy_cores": two["cpu"].get("machine_busy_cores"),
        "cpu_bound_answers_per_s": bound,
        "cpu_bound_ratio": ratio(bound, one.get("answers_per_s"), 2),
        "other_cores": round(others, 2),
        "cpu_bound_left_answers_per_s": bound_left,
        "cpu_bound_left_ratio": ratio(bound_left, one.get("answers_per_s"), 2),
    }


def _target(goal: str, value: Any, met: bool | None) -> dict[str, Any]:
    status = "not measured" if met is None else ("met" if met else "missed")
    return {"goal": goal, "value": value, "met": met, "status": status}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    scale = ratio(
        _get(result, "two_hosts", "answers_per_s"), _get(result, "one_host", "answers_per_s"), 2
    )
    steady = steady_errors(result)
    recovery = _get(result, "failover", "recovery_s")
    audit = result.get("audit") or {}
    verify = result.get("verify") or []
    fail = result.get("failover") or {}
    return [
        _target(f"two hosts >= {RATIO_TARGET}x one host's answers/s", scale,
                None if scale is None else scale >= RATIO_TARGET),
        _target("0 errors at steady state", steady, None if steady is None else steady == 0),
        _target("no answer without its audit record (host killed)",
                audit.get("answers_without_record"),
                None if not audit else audit["answers_without_record"] == 0),
        _target("records without a delivered answer <= requests failed at the kill",
                audit.get("records_without_delivered_answer"),
                None if not audit else audit["records_without_delivered_answer"]
                <= fail.get("errors_around_kill", 0)),
        _target("the audit chain verifies on PostgreSQL (every host's checkpoints)",
                [v["exit_code"] for v in verify] or None,
                None if not verify else all(v["exit_code"] == 0 for v in verify)),
        _target(f"recovery within {RECOVERY_TARGET_S:g} s after the restart", recovery,
                None if recovery is None else recovery <= RECOVERY_TARGET_S),
    ]  # fmt: skip


def plot(result: dict[str, Any], out: Path) -> str | None:
    """Answers per second of each host and errors over the failover phase."""
    fail = result.get("failover") or {}
    series = fail.get("timeline")
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    for name, values in series.items():
        ax.plot(range(len(values)), values, label=name, linewidth=1.2)
    for key, label in (("kill_at_s", "kill"), ("restart_at_s", "restart")):
        if fail.get(key) is not None:
            ax.axvline(fail[key], linestyle="--", color="grey")
            ax.text(fail[key], ax.get_ylim()[1] * 0.95, f" {label}", fontsize=8)
    if fail.get("recovery_s") is not None and fail.get("restart_at_s") is not None:
        ax.axvline(fail["restart_at_s"] + fail["recovery_s"], linestyle=":", color="green")
    ax.set_xlabel("seconds since the load began")
    ax.set_ylabel("per second")
    ax.set_title("Failover: answers per host and errors")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "failover.png", dpi=110)
    plt.close(fig)
    return "failover.png"


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _phase_row(name: str, phase: dict[str, Any] | None) -> list[Any]:
    if not phase:
        return [name, "not run", "", "", "", "", "", "", ""]
    lat = phase.get("latency_ms") or {}
    return [
        name,
        phase.get("clients"),
        _f(phase.get("answers_per_s"), 2),
        _f(lat.get("p50"), 0),
        _f(lat.get("p95"), 0),
        _f(lat.get("p99"), 0),
        phase.get("errors"),
        ", ".join(f"{k} {v}" for k, v in (phase.get("answers_by_host") or {}).items()),
        _f((phase.get("cpu") or {}).get("machine_busy_cores"), 2),
    ]


def render(result: dict[str, Any]) -> str:
    machine = result.get("machine") or {}
    params = result.get("params") or {}
    cores = [*(params.get("cores") or []), "?", "?"]
    dirty = " (dirty)" if _get(result, "git", "dirty") else ""
    lines = [
        "# Cluster benchmark (`make bench-cluster`)",
        "",
        f"Command: `{result.get('command', '')}`; {result.get('date', '')}; revision "
        f"{_get(result, 'git', 'commit') or '?'}{dirty}"
        f"; {result.get('seconds', '?')} s in all.",
        "",
        f"Machine: {machine.get('cpu', '?')}, {machine.get('cores_logical', '?')} logical cores, "
        f"{machine.get('ram_gb', '?')} GB; {machine.get('os', '')}; Python "
        f"{machine.get('python', '')}. Load average at start {machine.get('load_average_start')}"
        f", at end {result.get('load_average_end')}.",
        "",
        "Servers: "
        + "; ".join(f"{v}" for v in (result.get("servers") or {}).values())
        + "; "
        + ", ".join(
            f"{k} {v}"
            for k, v in (machine.get("versions") or {}).items()
            if k in ("chromadb", "uvicorn", "fastapi", "locust", "torch")
        )
        + ", "
        + ", ".join(f"{k} {v}" for k, v in (result.get("db_versions") or {}).items()),
        "",
        "## Set-up",
        "",
        "- PostgreSQL (durable: fsync and synchronous commit on) is the one database of every "
        "host (`EMN_DATABASE_URL=postgresql+psycopg://…`); a `chroma run` server holds the "
        f"vectors of the default corpus (ingested in {result.get('ingest_seconds', '?')} s, the "
        f"embedding cache seeded from `{result.get('embedding_cache_seed')}`).",
        f"- Each API host is `taskset -c CORE python -m api` with {params.get('workers')} "
        "worker, `EMN_TORCH_THREADS=1`, its own `EMN_DATA_DIR` and its own copy of the index "
        "folder (chunk store, BM25, manifest); host 1 on core "
        f"{cores[0]}, host 2 on core {cores[1]}. "
        f"Startup to ready: {result.get('host_start_seconds', '?')} s.",
        "- nginx (one worker) in front, passive failover (`max_fails=1 "
        f"fail_timeout={result.get('nginx_fail_timeout_s', '?')}s`, `proxy_next_upstream error "
        "timeout http_502 http_503`, without `non_idempotent`); its configuration is below.",
        f"- Locust: {params.get('users')} closed-loop users asking the dev questions "
        "(`POST /v1/ask`, extractive composer, query cache off) through nginx; "
        f"{params.get('scale_seconds')} s per scaling phase, {params.get('failover_seconds')} s "
        f"of failover with host 2 killed half-way and restarted {params.get('down_seconds')} s "
        "later.",
        "- PostgreSQL, the Chroma server, nginx and Locust are not pinned: they share the "
        "cores with the hosts. With one host, they have the second core to themselves; with "
        "two, they take CPU from both hosts (their cost is in the ceiling below).",
        "",
        "## Throughput: one host vs two",
        "",
    ]
    lines += markdown_table(
        ["phase", "users", "answers/s", "p50 ms", "p95 ms", "p99 ms", "errors",
         "answers by host", "busy cores"],
        [_phase_row("one host (core 0)", result.get("one_host")),
         _phase_row("two hosts (cores 0, 1)", result.get("two_hosts"))],
    )  # fmt: skip
    scale = ratio(
        _get(result, "two_hosts", "answers_per_s"), _get(result, "one_host", "answers_per_s"), 2
    )
    rss = _get(result, "two_hosts", "host_rss_mb") or {}
    lines += [
        "",
        f"Ratio two hosts / one host: **{_f(scale, 2)}x** (target {RATIO_TARGET}x). Resident "
        "memory of each host after the load: "
        + (", ".join(f"{k} {_f(v, 0)} MB" for k, v in rss.items()) or "–")
        + ".",
        "",
    ]
    lines += _ceiling_section(result)
    lines += _failover_section(result)
    lines += _audit_section(result)
    lines += ["## Targets", ""]
    lines += markdown_table(
        ["target", "value", "status"],
        [[t["goal"], _f(t["value"], 2), t["status"]] for t in result.get("targets") or []],
    )
    if result.get("errors"):
        lines += ["", "## Errors of the run", ""]
        lines += [
            f"- {k}: {str(v).splitlines()[0] if v else ''}" for k, v in result["errors"].items()
        ]
    if result.get("nginx_config"):
        lines += ["", "## The nginx configuration (two hosts)", "", "```nginx",
                  result["nginx_config"].rstrip(), "```"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _ceiling_section(result: dict[str, Any]) -> list[str]:
    top = result.get("ceiling")
    if not top:
        return ["CPU per component: not measured.", ""]
    total_ms = top["hosts_ms_per_answer"] + top["helpers_ms_per_answer"]
    lines = [
        "### Where the CPU goes (two-host phase)",
        "",
        "CPU milliseconds per answer, from each process tree's CPU time over the phase "
        "(psutil; Locust's from its exit accounting):",
        "",
    ]
    lines += markdown_table(
        ["component", "CPU ms / answer"],
        [[k, _f(v, 1)] for k, v in top["cpu_ms_per_answer"].items()]
        + [["hosts together", _f(top["hosts_ms_per_answer"], 1)],
           ["PostgreSQL + Chroma + nginx + Locust", _f(top["helpers_ms_per_answer"], 1)]],
    )  # fmt: skip
    lines += [
        "",
        f"The machine was {_f(top['machine_busy_cores'], 2)} of {top['cores']} cores busy; "
        f"{_f(top['other_cpu_seconds'], 1)} CPU s went to processes outside the cluster. "
        f"With {top['cores']} cores and {_f(total_ms, 1)} "
        f"CPU ms per answer, the machine cannot give more than "
        f"**{_f(top['cpu_bound_answers_per_s'], 2)} answers/s**, i.e. "
        f"**{_f(top['cpu_bound_ratio'], 2)}x** the one-host figure: the services every host "
        f"shares take {_f(100 * (top['helpers_share'] or 0), 0)} % of the CPU per answer and "
        "run on the same cores as the hosts. On a machine where they have cores of their own, "
        "the ratio is bounded by the hosts alone. Processes outside the cluster took "
        f"{_f(top['other_cores'], 2)} cores on average during the phase; with the "
        f"{_f(top['cores'] - top['other_cores'], 2)} cores left, the bound is "
        f"**{_f(top['cpu_bound_left_answers_per_s'], 2)} answers/s** "
        f"({_f(top['cpu_bound_left_ratio'], 2)}x; the one-host phase was measured under the same "
        "kind of load, so compare the ratio on an idle machine).",
        "",
    ]
    return lines


def _failover_section(result: dict[str, Any]) -> list[str]:
    fail = result.get("failover")
    if not fail:
        return ["## Failover", "", "Not run.", ""]
    statuses = ", ".join(
        f"HTTP {k}: {v}" for k, v in (fail.get("statuses_around_kill") or {}).items()
    )
    lines = ["## Failover: one host killed and restarted under load", ""]
    lines += markdown_table(
        ["figure", "value"],
        [
            ["answers/s over the phase", _f(fail.get("answers_per_s"), 2)],
            ["latency p50 / p95 / p99 ms", " / ".join(
                _f((fail.get("latency_ms") or {}).get(p), 0) for p in ("p50", "p95", "p99"))],
            ["killed (SIGKILL to the process group) at", f"{_f(fail.get('kill_at_s'))} s"],
            ["restart command at", f"{_f(fail.get('restart_at_s'))} s"],
            ["errors before the kill (steady)", fail.get("errors_before_kill")],
            ["errors from the kill until it answered again",
             f"{fail.get('errors_around_kill')} ({statuses or 'none'})"],
            ["errors after recovery (steady)", fail.get("errors_after_recovery")],
            ["restart -> its /readyz 200", f"{_f(fail.get('ready_after_restart_s'), 2)} s"],
            ["restart -> its first answer through nginx",
             f"{_f(fail.get('first_answer_after_restart_s'), 2)} s"],
            ["recovery time (the later of the two)", f"{_f(fail.get('recovery_s'), 2)} s"],
            ["answers by host", ", ".join(
                f"{k} {v}" for k, v in (fail.get("answers_by_host") or {}).items())],
        ],
    )  # fmt: skip
    lines += [
        "",
        "Requests in flight on the killed host fail (nginx answers 502 and does not resend a "
        "POST that reached a host); new requests go to the live host at once (a refused "
        "connection is retried there). The restart time is the process's start: Python, "
        "torch and the embedding models load before the host listens.",
        "",
    ]
    if result.get("plot"):
        lines += [f"![answers per second during the failover]({result['plot']})", ""]
    return lines


def _audit_section(result: dict[str, Any]) -> list[str]:
    audit = result.get("audit")
    lines = ["## Audit integrity", ""]
    if not audit:
        return [*lines, "Not checked: the run stopped before the end (see its errors).", ""]
    lines += markdown_table(
        ["figure", "value"],
        [
            ["answers clients received (warm-up + all phases)", audit["answers_given"]],
            ["answer records in PostgreSQL", audit["answer_records"]],
            ["answers without a record", audit["answers_without_record"]],
            ["records without a delivered answer", audit["records_without_delivered_answer"]],
            ["duplicate records of one trace id", audit["duplicate_records"]],
            ["records by kind", ", ".join(f"{k} {v}" for k, v in audit["records_by_kind"].items())],
        ],
    )  # fmt: skip
    lines += [
        "",
        "Every trace id in a 200 response is looked up in `audit_log`. A record without a "
        "delivered answer is a request the killed host answered and recorded whose reply died "
        "with the process; there can be at most as many as requests that failed at the kill "
        f"({audit['failover_errors']}). nginx never resends a POST that reached a host, so one "
        "client request never has two records.",
        "",
    ]
    for check in result.get("verify") or []:
        lines += [f"`{check['command']}`: exit {check['exit_code']}", "", "```",
                  check["output"], "```", ""]  # fmt: skip
    return lines


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result["ceiling"] = ceiling(result)
    result["targets"] = targets(result)
    try:
        result["plot"] = plot(result, out)
    except ImportError:
        result["plot"] = None
    (out / "cluster.json").write_text(
        json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8"
    )
    (out / "report.md").write_text(render(result), encoding="utf-8")
