"""Counts that `make test` prints at the end: examples fuzzed and faults injected, with outcomes."""

from __future__ import annotations

from collections import Counter

fuzzed: Counter[str] = Counter()  # "<target>" -> examples run
outcomes: Counter[str] = Counter()  # "<target>: <outcome>" -> count
faults: Counter[str] = Counter()  # "<fault>: <outcome>" -> count


def record(target: str, outcome: str) -> None:
    fuzzed[target] += 1
    outcomes[f"{target}: {outcome}"] += 1


def fault(name: str, outcome: str) -> None:
    faults[f"{name}: {outcome}"] += 1


# under pytest-xdist each worker counts its own tests: tests/conftest.py sends each worker's
# snapshot to the controller, which merges them before printing the totals


def snapshot() -> dict[str, dict[str, int]]:
    return {"fuzzed": dict(fuzzed), "outcomes": dict(outcomes), "faults": dict(faults)}


def merge(counts: dict[str, dict[str, int]]) -> None:
    fuzzed.update(counts.get("fuzzed", {}))
    outcomes.update(counts.get("outcomes", {}))
    faults.update(counts.get("faults", {}))
