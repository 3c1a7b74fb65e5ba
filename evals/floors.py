"""The quality gate: run metrics against the floors and ceilings of evals/floors.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FLOORS = Path(__file__).parent / "floors.toml"


@dataclass
class Check:
    metric: str
    value: float | None
    bound: float
    kind: str  # "floor" (value must be >= bound) or "ceiling" (value must be <= bound)

    @property
    def ok(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.bound if self.kind == "floor" else self.value <= self.bound

    def line(self) -> str:
        sign = ">=" if self.kind == "floor" else "<="
        value = "n/a" if self.value is None else f"{self.value:.4g}"
        verdict = "ok" if self.ok else "FAIL"
        return f"{verdict:4} {self.metric:28} {value:>8}  ({self.kind} {sign} {self.bound:g})"


def load_floors(path: Path = FLOORS) -> dict[str, dict[str, float]]:
    """{"floors": {metric: min}, "ceilings": {metric: max}} from the TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"{path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML ({exc})") from exc
    unknown = set(data) - {"floors", "ceilings"}
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {sorted(unknown)}; use [floors], [ceilings]")
    out: dict[str, dict[str, float]] = {"floors": {}, "ceilings": {}}
    for table in out:
        for metric, bound in data.get(table, {}).items():
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise ValueError(f"{path}: [{table}] {metric} must be a number")
            out[table][metric] = float(bound)
    return out


def check(metrics: dict[str, Any], bounds: dict[str, dict[str, float]]) -> list[Check]:
    """One check per bound, in file order (a metric missing from the run fails)."""
    checks = [Check(k, metrics.get(k), v, "floor") for k, v in bounds["floors"].items()]
    checks += [Check(k, metrics.get(k), v, "ceiling") for k, v in bounds["ceilings"].items()]
    return checks


def report(checks: list[Check]) -> str:
    return "\n".join(c.line() for c in checks)
