"""`make bench`: every benchmark in turn, then one table of each figure against its target.

Each benchmark prints its own report and one `target:` line per figure (bench/targets.py); this
runs them as separate processes (as `make bench` always did), shows their output as it comes,
and ends with the figures of issue 14 and the older targets side by side.
Run: .venv/bin/python bench/all.py [--only events cold_import]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from targets import parse

BENCH = Path(__file__).resolve().parent
ORDER = ("provision", "events", "cold_import", "burst", "slack_ack")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=ORDER, default=list(ORDER))
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str, str]] = []
    failed: list[str] = []
    for name in [n for n in ORDER if n in args.only]:
        print(f"\n=== bench/{name}.py ===", flush=True)
        started = time.monotonic()
        with subprocess.Popen(
            [sys.executable, str(BENCH / f"{name}.py")], stdout=subprocess.PIPE, text=True, bufsize=1
        ) as child:
            assert child.stdout is not None
            for line in child.stdout:
                print(line, end="", flush=True)
                row = parse(line.strip())
                if row:
                    rows.append((name, *row))
        if child.returncode != 0:
            failed.append(name)
        print(f"(bench/{name}.py: {time.monotonic() - started:.0f} s, exit {child.returncode})", flush=True)
    print("\n=== figures against their targets ===")
    width = max((len(r[1]) for r in rows), default=10)
    print(f"  {'bench':<12} {'figure':<{width}}  {'measured':<28} {'target':<22} met")
    for bench, figure, measured, target, met in rows:
        print(f"  {bench:<12} {figure:<{width}}  {measured:<28} {target:<22} {met}")
    for name in failed:
        print(f"  {name:<12} the benchmark itself failed (see its output above)")
    missed = sum(1 for r in rows if r[4] == "NO")
    summary = f"\n{len(rows) - missed} of {len(rows)} figures met their targets"
    print(summary + (f"; benchmarks that failed: {', '.join(failed)}" if failed else ""))


if __name__ == "__main__":
    main()
