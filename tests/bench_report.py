"""The benchmark's targets and its printed report: a table with PASS/FAIL, then BENCH-JSON.

Used by ``scripts/bench`` (tests/bench_perf.py). A target compares a figure
with a number or with another figure; a figure that was not measured (its test
deselected) is shown as such and is neither a PASS nor a FAIL.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
import json
import operator
from typing import Any

_OPERATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


@dataclass(frozen=True, slots=True)
class Target:
    """A figure's bound: ``key <op> bound`` (a number, or another figure's key)."""

    key: str
    op: str
    bound: float | str

    def text(self) -> str:
        """Return the target as the table shows it."""
        return f"{self.op} {self.bound}"

    def verdict(self, figures: dict[str, Any]) -> str:
        """Return PASS, FAIL, or "not measured"."""
        bound = figures.get(self.bound) if isinstance(self.bound, str) else self.bound
        value = figures.get(self.key)
        if value is None or bound is None:
            return "not measured"
        return "PASS" if _OPERATORS[self.op](value, bound) else "FAIL"


TARGETS = [
    Target("listener_overhead_vs_noop", "<=", 1.10),
    Target("unmapped_overhead_us", "<=", 0.2),
    Target("puts_per_storm_max", "<=", "puts_bound"),
    Target("setup_ms", "<", 50),
    Target("drain_2880_s_at_100ms", "<=", 320),
    Target("current_state_after_outage_s", "<=", 2),
    Target("retry_floor_s", ">=", 1),
    Target("entity_writes_per_hour_online", "<=", 130),
    Target("outbox_durable_s", "<=", 10),
    Target("outbox_bytes_per_record", "<=", 2048),
    Target("outbox_stall_ms_100k", "<=", 10),
    Target("outbox_load_loop_ms_100k", "<=", 50),
]
BY_KEY = {target.key: target for target in TARGETS}

type Row = tuple[str, str, str]  # figure, value, target key or ""


def report(title: str, rows: list[Row], figures: dict[str, Any]) -> list[str]:
    """Print the table and BENCH-JSON; return the keys of the targets missed.

    ``rows`` are (figure, value as shown, key of its target or "").
    """
    print(f"\n{title}, {datetime.now(UTC):%Y-%m-%d}")
    print(f"| {'figure':<46} | {'value':<34} | {'target':<18} | {'':<6} |")
    print(f"|{'-' * 48}|{'-' * 36}|{'-' * 20}|{'-' * 8}|")
    for name, value, key in rows:
        target = BY_KEY.get(key)
        bound = target.text() if target else ""
        verdict = target.verdict(figures) if target else ""
        print(f"| {name:<46} | {value:<34} | {bound:<18} | {verdict:<6} |")
    verdicts = {target.key: target.verdict(figures) for target in TARGETS}
    failed = [key for key, verdict in verdicts.items() if verdict == "FAIL"]
    passed = sum(verdict == "PASS" for verdict in verdicts.values())
    missing = sum(verdict == "not measured" for verdict in verdicts.values())
    summary = f"targets: {passed} PASS, {len(failed)} FAIL"
    if missing:
        summary += f", {missing} not measured"
    print(summary + (f" ({', '.join(failed)})" if failed else ""))
    print("BENCH-JSON " + json.dumps(figures, sort_keys=True))
    return failed
