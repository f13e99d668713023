"""Benchmark: cold start of each Lambda handler, as a ratio to `import boto3` alone.

Each sample is a whole fresh interpreter, timed from outside (`python -c '<import>'`: start-up,
the import, exit), the figure issue 14 sets: `import boto3`, or a handler the way Lambda loads it
(`functions/<name>` first on sys.path, then `import app`). Runs are paired: each round times
boto3 and then every handler back to back, the ratio is taken within the round (drift and the
other work on the machine hit both sides of a pair alike), and the median ratio over --runs
rounds is reported, with the median times. The import alone (perf_counter inside the process)
is shown beside it, and "+domain": the same ratio with the handler's domain module imported too
(`registry_workflow.handlers.<name>`: the pydantic models, config, the workflow modules); `app.py`
imports it at init, so the two agree, and a handler that ever defers its domain to the first event
shows the cost it moved there (docs/decisions.md, 48).

"+1st event": init, then what the handler's first event does before its first AWS call: the sample
event from events/ parsed (the handler's parser), the repo's config/ loaded, and the clients its path
uses made through registry_workflow.aws (no request is sent). Same ratio to `import boto3`; the
median time (ms) beside it. A cost moved from init to the first event shows here.

Environments (`sys.modules[name] = None` hides a package: `import` raises ModuleNotFoundError and
`importlib.util.find_spec` returns None, as when not installed):
* lambda — what the function has in AWS: the python3.12 runtime's boto3 (with botocore, s3transfer,
  jmespath, urllib3, python-dateutil, six: none needs pyOpenSSL or cryptography) and the layer's
  requirements. The dev venv holds three packages that neither has and that change imports:
  aws_xray_sdk (moto's dependency; Powertools' Tracer imports it), awscrt (SAM CLI's; botocore
  imports it when present) and OpenSSL (pyOpenSSL, moto's; `import boto3` reaches
  botocore.httpsession, which imports urllib3.contrib.pyopenssl and with it cryptography, ~50 ms,
  when present). All three are hidden.
* lambda-pyopenssl — the same with pyOpenSSL visible (the environment before issue 14's rework:
  a slower `import boto3`, so smaller ratios).
* venv — the dev venv as it is.

Target: handler / boto3 <= 1.25 (whole process, median of paired ratios) in the lambda environment.
Run: .venv/bin/python bench/cold_import.py [--runs 11] [--env lambda lambda-pyopenssl venv] [--explain]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from targets import target_line

REPO = Path(__file__).resolve().parent.parent
HANDLERS = sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py"))
HIDDEN = {
    "lambda": ("aws_xray_sdk", "awscrt", "OpenSSL"),
    "lambda-pyopenssl": ("aws_xray_sdk", "awscrt"),
    "venv": (),
}
#: the module a handler's app.py imports its work from ("+domain")
DOMAIN = {"slack_approvals": "registry_workflow.chat_approvals"}
#: what the first event does beyond init ("+1st event"): the sample event parsed, the config loaded,
#: and the clients its path uses made (no call is sent). (parser, events/ file, services)
FIRST_EVENT: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "deployer": ("parse_model_package_event", "model-package-approved.json", ("sagemaker", "dynamodb", "sns")),
    "notifier": (
        "parse_model_package_event",
        "model-package-registered.json",
        ("sagemaker", "dynamodb", "sns", "secretsmanager"),
    ),
    "provisioner": ("", "", ("ssm", "sagemaker")),
    "slack_approvals": ("", "", ("sqs", "dynamodb", "secretsmanager")),
    "tracker": ("parse_endpoint_event", "endpoint-in-service.json", ("sagemaker", "dynamodb", "sns")),
    "validator": ("parse_model_package_event", "model-package-registered.json", ("sagemaker", "s3", "dynamodb")),
}
TARGET = 1.25

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
    if {domain!r}:
        import importlib
        importlib.import_module({domain!r})
    if {first!r}:
        import json
        from registry_workflow import aws, events
        from registry_workflow.config import load_config
        parser, sample, services = {first!r}
        config = load_config({config!r})
        if parser:
            with open({events!r} + "/" + sample) as handle:
                getattr(events, parser)(json.load(handle))
        for service in services:
            aws.client(service)
print(time.perf_counter() - started)
"""


@dataclass
class Samples:
    process: list[float] = field(default_factory=list)  # whole process, seconds
    import_only: list[float] = field(default_factory=list)  # the import inside it, seconds
    ratios: list[float] = field(default_factory=list)  # process / boto3's process, same round
    #: `import app` plus the handler's domain module (equal to `import app` while app.py imports it at
    #: init; process / boto3's process, same round)
    first_event_ratios: list[float] = field(default_factory=list)
    #: "+1st event": init, then what the first event does before its first AWS call (FIRST_EVENT)
    event_process: list[float] = field(default_factory=list)
    event_ratios: list[float] = field(default_factory=list)
    failure: str | None = None


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    layer = str(REPO / "layers" / "registry_workflow")
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": layer, "PYTHONDONTWRITEBYTECODE": "1"}
    return env


def code(target: str, hidden: tuple[str, ...], *, domain: bool = False, event: bool = False) -> str:
    path = target if target == "boto3" else str(REPO / "functions" / target)
    module = DOMAIN.get(target, f"registry_workflow.handlers.{target}") if domain or event else ""
    first = FIRST_EVENT[target] if event else ()
    return SAMPLE.format(
        hidden=hidden, target=path, domain=module, first=first, config=str(REPO / "config"), events=str(REPO / "events")
    )


def sample(
    target: str, hidden: tuple[str, ...], *, first_event: bool = False, event: bool = False
) -> tuple[float, float] | str:
    """(whole process, import only) in seconds, or the import's error."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code(target, hidden, domain=first_event, event=event)],
        capture_output=True,
        text=True,
        env=environment(),
    )
    process = time.perf_counter() - started
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1]
    return process, float(done.stdout.strip())


def measure(env_name: str, runs: int) -> dict[str, Samples]:
    hidden = HIDDEN[env_name]
    results = {t: Samples() for t in ("boto3", *HANDLERS)}
    for target in results:  # one unmeasured round: the OS file cache warm for everyone alike
        sample(target, hidden)
    for _ in range(runs):
        base = sample("boto3", hidden)
        assert not isinstance(base, str), base
        results["boto3"].process.append(base[0])
        results["boto3"].import_only.append(base[1])
        for handler in HANDLERS:
            got = results[handler]
            if got.failure:
                continue
            value = sample(handler, hidden)
            if isinstance(value, str):
                got.failure = value  # the import fails: say how, once
                continue
            got.process.append(value[0])
            got.import_only.append(value[1])
            got.ratios.append(value[0] / base[0])
            first = sample(handler, hidden, first_event=True)
            if not isinstance(first, str):
                got.first_event_ratios.append(first[0] / base[0])
            after_event = sample(handler, hidden, event=True)
            if isinstance(after_event, str):
                got.failure = f"first event: {after_event}"
                continue
            got.event_process.append(after_event[0])
            got.event_ratios.append(after_event[0] / base[0])
    return results


def explain(handler: str, hidden: tuple[str, ...], top: int = 10) -> None:
    """`-X importtime` of one handler: self time of what it imports beyond `import boto3`, by package."""

    def importtime(target: str) -> list[tuple[str, int]]:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code(target, hidden)],
            capture_output=True,
            text=True,
            env=environment(),
        )
        rows = []
        for line in done.stderr.splitlines():
            parts = line.removeprefix("import time:").split("|")
            if len(parts) == 3 and parts[0].strip().isdigit():
                rows.append((parts[2].strip(), int(parts[0])))
        return rows

    in_boto3 = {name for name, _ in importtime("boto3")}
    extra: dict[str, int] = {}
    for name, micros in importtime(handler):
        if name not in in_boto3:
            package = name if name.startswith("registry_workflow") else name.split(".")[0]
            extra[package] = extra.get(package, 0) + micros
    print(f"  -X importtime, {handler}: self time beyond `import boto3`, by package (ms)")
    for package, micros in sorted(extra.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {micros / 1000:7.1f}  {package}")
    print(f"    {sum(extra.values()) / 1000:7.1f}  total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11, help="paired rounds (median)")
    parser.add_argument("--env", nargs="+", choices=sorted(HIDDEN), default=["lambda", "venv"])
    parser.add_argument("--explain", action="store_true", help="-X importtime of handlers over target")
    args = parser.parse_args()
    print(f"cold start: whole fresh process, {args.runs} paired rounds, median (python {sys.version.split()[0]})")
    met_all = True
    lines: list[tuple[str, str, str, bool]] = []
    for env_name in args.env:
        results = measure(env_name, args.runs)
        base = results["boto3"]
        hidden = ", ".join(HIDDEN[env_name]) or "nothing hidden"
        print(f"\n  environment: {env_name} ({hidden})")
        print(
            f"  {'process':<32} {'median ms':>9} {'import ms':>9} {'ratio':>6}  target <= {TARGET}x  +domain"
            "  +1st event (ms)"
        )
        print(
            f"  {"python -c 'import boto3'":<32} {statistics.median(base.process) * 1000:9.0f} "
            f"{statistics.median(base.import_only) * 1000:9.0f} {1.0:6.2f}"
        )
        over: list[str] = []
        for handler in HANDLERS:
            got = results[handler]
            label = f"functions/{handler}/app.py"
            if got.failure:
                print(f"  {label:<32} FAILS: {got.failure}")
                met = False
            else:
                ratio = statistics.median(got.ratios)
                met = ratio <= TARGET
                print(
                    f"  {label:<32} {statistics.median(got.process) * 1000:9.0f} "
                    f"{statistics.median(got.import_only) * 1000:9.0f} {ratio:6.2f}  {'yes' if met else 'NO':<14}"
                    f"{statistics.median(got.first_event_ratios):6.2f}  "
                    f"{statistics.median(got.event_ratios):6.2f} ({statistics.median(got.event_process) * 1000:.0f})"
                )
            if env_name == "lambda":
                measured = got.failure or f"{statistics.median(got.ratios):.2f}x"
                lines.append((f"cold start {handler} / boto3 (whole process)", measured, f"<= {TARGET}x", met))
            if not met:
                over.append(handler)
            if env_name == "lambda":
                met_all &= met
        if args.explain:
            for handler in over:
                explain(handler, HIDDEN[env_name])
    print(f"\nall handlers within {TARGET}x of boto3 (lambda environment): {'yes' if met_all else 'NO'}")
    for line in lines:
        target_line(*line)


if __name__ == "__main__":
    main()
