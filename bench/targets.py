"""The one line each benchmark prints per figure it checks, which `bench/all.py` gathers into one table."""

from __future__ import annotations

PREFIX = "target:"


def target_line(figure: str, measured: str, target: str, met: bool | None) -> str:
    """`target: figure | measured | target | yes/NO/-`, printed by the benchmark itself."""
    verdict = "-" if met is None else ("yes" if met else "NO")
    line = f"{PREFIX} {figure} | {measured} | {target} | {verdict}"
    print(line)
    return line


def parse(line: str) -> tuple[str, str, str, str] | None:
    if not line.startswith(PREFIX):
        return None
    parts = [p.strip() for p in line.removeprefix(PREFIX).split("|")]
    return (parts[0], parts[1], parts[2], parts[3]) if len(parts) == 4 else None
