"""Benchmark: cold import of each Lambda handler module, as a ratio to `import boto3` alone.

Each sample is a fresh interpreter that imports one thing, timed with perf_counter around the
import only (interpreter start-up excluded): `import boto3`, or a handler the way Lambda loads it
(`functions/<name>` first on sys.path, then `import app`). Samples are interleaved so drift hits
every target alike; the median of --runs samples is reported.

Two environments:
* lambda — what the function has in AWS: the python3.12 runtime's boto3 and the layer's
  requirements. The dev venv holds two packages that neither has and that change imports:
  aws_xray_sdk (moto's dependency; Powertools' Tracer imports it) and awscrt (SAM CLI's;
  botocore imports it when present). Both are hidden (`sys.modules[name] = None`: `import` raises
  ModuleNotFoundError and `importlib.util.find_spec` returns None, as when not installed).
* venv — the dev venv as it is.

Target: handler / boto3 <= 1.5 in the lambda environment.
Run: .venv/bin/python bench/cold_import.py [--runs 7] [--env lambda venv] [--explain]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HANDLERS = sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py"))
HIDDEN = {"lambda": ("aws_xray_sdk", "awscrt"), "venv": ()}
TARGET = 1.5

SAMPLE = """
import sys, time
for name in {hidden!r}:
    sys.modules[name] = None
target = {target!r}
if target != "boto3":
    sys.path.insert(0, target)
started = time.perf_counter()
if target == "boto3":
    import boto3
else:
    import app
print(time.perf_counter() - started)
"""


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    layer = str(REPO / "layers" / "registry_workflow")
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": layer, "PYTHONDONTWRITEBYTECODE": "1"}
    return env


def sample(target: str, hidden: tuple[str, ...]) -> float | str:
    path = target if target == "boto3" else str(REPO / "functions" / target)
    done = subprocess.run(
        [sys.executable, "-c", SAMPLE.format(hidden=hidden, target=path)],
        capture_output=True,
        text=True,
        env=environment(),
    )
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1]
    return float(done.stdout.strip())


def measure(env_name: str, runs: int) -> dict[str, list[float] | str]:
    hidden = HIDDEN[env_name]
    results: dict[str, list[float] | str] = {t: [] for t in ("boto3", *HANDLERS)}
    for _ in range(runs):
        for target in results:
            if isinstance(results[target], str):
                continue
            value = sample(target, hidden)
            if isinstance(value, str):
                results[target] = value  # the import fails: say how, once
            else:
                results[target].append(value)  # type: ignore[union-attr]
    return results


def explain(handler: str, hidden: tuple[str, ...], top: int = 10) -> None:
    """`-X importtime` of one handler: self time of what it imports beyond `import boto3`, by package."""

    def importtime(target: str) -> list[tuple[str, int]]:
        code = SAMPLE.format(hidden=hidden, target=target)
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=environment()
        )
        rows = []
        for line in done.stderr.splitlines():
            parts = line.removeprefix("import time:").split("|")
            if len(parts) == 3 and parts[0].strip().isdigit():
                rows.append((parts[2].strip(), int(parts[0])))
        return rows

    in_boto3 = {name for name, _ in importtime("boto3")}
    extra: dict[str, int] = {}
    for name, micros in importtime(str(REPO / "functions" / handler)):
        if name not in in_boto3:
            package = name if name.startswith("registry_workflow") else name.split(".")[0]
            extra[package] = extra.get(package, 0) + micros
    print(f"  -X importtime, {handler}: self time beyond `import boto3`, by package (ms)")
    for package, micros in sorted(extra.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {micros / 1000:7.1f}  {package}")
    print(f"    {sum(extra.values()) / 1000:7.1f}  total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per target (median)")
    parser.add_argument("--env", nargs="+", choices=sorted(HIDDEN), default=["lambda", "venv"])
    parser.add_argument("--explain", action="store_true", help="-X importtime of handlers over target")
    args = parser.parse_args()
    print(f"cold import in a fresh process, median of {args.runs} (python {sys.version.split()[0]})")
    met_all = True
    for env_name in args.env:
        results = measure(env_name, args.runs)
        base = results["boto3"]
        assert not isinstance(base, str), base
        boto3_s = statistics.median(base)
        hidden = ", ".join(HIDDEN[env_name]) or "nothing hidden"
        print(f"\n  environment: {env_name} ({hidden})")
        print(f"  {'import':<28} {'median ms':>9} {'min ms':>7} {'ratio':>6}  target <= {TARGET}x")
        print(f"  {'boto3':<28} {boto3_s * 1000:9.0f} {min(base) * 1000:7.0f} {1.0:6.2f}")
        over: list[str] = []
        for handler in HANDLERS:
            times = results[handler]
            label = f"functions/{handler}/app.py"
            if isinstance(times, str):
                print(f"  {label:<28} FAILS: {times}")
                met = False
            else:
                ratio = statistics.median(times) / boto3_s
                met = ratio <= TARGET
                print(
                    f"  {label:<28} {statistics.median(times) * 1000:9.0f} {min(times) * 1000:7.0f} "
                    f"{ratio:6.2f}  {'yes' if met else 'NO'}"
                )
            if not met:
                over.append(handler)
            if env_name == "lambda":
                met_all &= met
        if args.explain:
            for handler in over:
                explain(handler, HIDDEN[env_name])
    print(f"\nall handlers within {TARGET}x of boto3 (lambda environment): {'yes' if met_all else 'NO'}")


if __name__ == "__main__":
    main()
