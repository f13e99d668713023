"""Benchmark: a burst of versions registered on the offline twin, every one validated and announced once.

Starts the twin in-process (moto server + event bus invoking the functions' own app.py from
template.yaml's rules), provisions the seed's three groups with `registry_workflow.provisioning`,
uploads one metrics JSON per version to S3 (passing each project's policy), then registers
--versions versions across the three groups from --threads client threads, as fast as it can.
When the twin is idle it checks, per package ARN: the validator stamped it exactly once, and the
"registered" and "validation passed" messages each went out exactly once on SNS and on Slack
(the twin's webhook sink). 0 lost is the target.

Latency is measured per delivery from the twin's log: queued = when the twin put the event on
its bus (right after the change in moto), started/done = the handler invocation. The twin runs
each function concurrently in its own worker processes (up to `--concurrency`, like Lambda), so
what a burst waits on is the single moto process answering every handler; handler time is what
each invocation costs against it.
Run: .venv/bin/python bench/burst.py [--versions 200] [--threads 8]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from targets import target_line

REPO = Path(__file__).resolve().parent.parent
#: issue 14: event -> handler start, 95th percentile, per function
BURST_P95_SECONDS = 2.0
ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET = "registry-workflow-bench-metrics"
ARN = re.compile(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]+/\d+")
#: metrics that pass each project's policy in config/policy.toml
GOOD = {
    "rc-fraud-detection": {"binary_classification_metrics": {"auc": {"value": 0.93}, "accuracy": {"value": 0.91}}},
    "rc-anti-money-laundering": {"binary_classification_metrics": {"recall": {"value": 0.95}}},
    "algo-recommendation-engine": {"regression_metrics": {"rmse": {"value": 0.9}}},
}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8, help="client threads registering versions")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the twin to go idle")
    args = parser.parse_args()
    for key in [k for k in os.environ if k.startswith(("AWS_", "POWERTOOLS_"))]:
        del os.environ[key]
    os.environ |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    sys.path.insert(0, str(REPO / "layers" / "registry_workflow"))

    from registry_workflow.local.twin import Twin

    report = io.StringIO()
    # the handlers' EMF metric lines go to stdout: keep them out of the report
    twin = Twin(port=0, transition_seconds=0.2, config_dir=REPO / "config")
    with twin, contextlib.redirect_stdout(io.StringIO()):
        ok = run(twin, args.versions, args.threads, args.timeout, report)
    print(report.getvalue(), end="")
    print(f"\nall targets met: {'yes' if ok else 'NO'}")


def run(twin: Any, n: int, threads: int, timeout: float, out: io.StringIO) -> bool:
    def say(*text: str) -> None:
        print(*text, file=out)

    import boto3
    from registry_workflow.aws import RETRY_CONFIG
    from registry_workflow.config import load_config
    from registry_workflow.provisioning import reconcile

    session = boto3.session.Session()
    sm = session.client("sagemaker", endpoint_url=twin.url, config=RETRY_CONFIG)
    s3 = session.client("s3", endpoint_url=twin.url)
    config = load_config(REPO / "config")
    reconcile(config, sm)
    groups = list(config.group_names)
    s3.create_bucket(Bucket=BUCKET)
    plan = [(groups[i % len(groups)], i) for i in range(n)]
    for group, i in plan:
        s3.put_object(Bucket=BUCKET, Key=f"{group}/{i}/statistics.json", Body=json.dumps(GOOD[group]))
    assert twin.wait_idle(30)
    events_before, outcomes_before = len(twin.log.events), len(twin.log.outcomes)

    def register(item: tuple[str, int]) -> str:
        group, i = item
        return str(
            sm.create_model_package(
                ModelPackageGroupName=group,
                ModelApprovalStatus="PendingManualApproval",
                InferenceSpecification={
                    "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{group}:latest"}],
                    "SupportedContentTypes": ["application/json"],
                    "SupportedResponseMIMETypes": ["application/json"],
                },
                ModelMetrics={
                    "ModelQuality": {
                        "Statistics": {
                            "ContentType": "application/json",
                            "S3Uri": f"s3://{BUCKET}/{group}/{i}/statistics.json",
                        }
                    }
                },
            )["ModelPackageArn"]
        )

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        arns = list(pool.map(register, plan))
    registered = time.monotonic() - started
    idle = twin.wait_idle(timeout)
    drained = time.monotonic() - started
    # the SNS tap reads its SQS queue by long polling: let it catch up
    expected_messages = 2 * n
    deadline = time.monotonic() + 10
    while len(twin.log.sns) < expected_messages and time.monotonic() < deadline:
        time.sleep(0.2)

    # --- what happened, per version ------------------------------------------------------------
    events = {e["id"]: e for e in twin.log.events[events_before:]}
    outcomes = [o for o in twin.log.outcomes[outcomes_before:] if o.event_id in events]
    validated: Counter[str] = Counter()
    failed_outcomes = [o for o in outcomes if not o.ok]
    for o in outcomes:
        if (
            o.function == "ValidatorFunction"
            and isinstance(o.result, dict)
            and o.result.get("action")
            in {
                "stamped",
                "rejected",
                "approved",
            }
        ):
            validated[events[o.event_id]["resources"][0]] += 1
    stamps: Counter[str] = Counter()
    for arn in arns:
        props = sm.describe_model_package(ModelPackageName=arn).get("CustomerMetadataProperties") or {}
        stamps[arn] += props.get("validation.status") == "passed"
    sns: dict[str, Counter[str]] = defaultdict(Counter)
    for body in twin.log.sns:
        meta = body.get("metadata") or {}
        sns[meta.get("threadId", "?")][meta.get("eventType", "?")] += 1
    slack: dict[str, Counter[str]] = defaultdict(Counter)
    for payload in twin.log.slack:
        found = set(ARN.findall(json.dumps(payload)))
        kind = "registered" if "Registered" in payload.get("text", "") else "validated"
        for arn in found:
            slack[arn][kind] += 1

    def exactly_once(counts: dict[str, Counter[str]], kind: str) -> int:
        return sum(1 for arn in arns if counts.get(arn, Counter())[kind] == 1)

    checks = {
        "validated once (validator outcome)": sum(1 for a in arns if validated[a] == 1),
        "stamped passed (DescribeModelPackage)": sum(1 for a in arns if stamps[a] == 1),
        "SNS 'registered' once": exactly_once(sns, "registered"),
        "SNS 'validated' once": exactly_once(sns, "validated"),
        "Slack 'registered' once": exactly_once(slack, "registered"),
        "Slack 'validated' once": exactly_once(slack, "validated"),
    }
    total_sns = sum(sum(c.values()) for a, c in sns.items() if a in set(arns))
    total_slack = sum(sum(c.values()) for a, c in slack.items() if a in set(arns))

    # --- timings -----------------------------------------------------------------------------------
    by_function: dict[str, list[Any]] = defaultdict(list)
    for o in outcomes:
        if o.queued_at is not None and o.started_at is not None:
            by_function[o.function].append(o)

    say(f"burst on the offline twin: {n} versions across {len(groups)} groups ({', '.join(groups)})")
    say(
        f"  registered in {registered:.2f} s from {threads} threads ({n / registered:.0f} versions/s); "
        f"twin idle after {drained:.2f} s (idle reached: {idle})"
    )
    say(
        f"  events {len(events)}, deliveries {len(outcomes)}, failed deliveries {len(failed_outcomes)}; "
        f"end-to-end throughput {n / drained:.1f} versions/s ({len(outcomes) / drained:.1f} handler invocations/s)"
    )
    say(f"  messages: SNS {total_sns}, Slack {total_slack} (expected {expected_messages} each)")
    say(f"\n  {'check (per version)':<40} {'ok':>5} / {n}")
    for name, count in checks.items():
        say(f"  {name:<40} {count:>5}   {'yes' if count == n else 'NO'}")
    lost = expected_messages - min(total_sns, total_slack)
    say(f"  lost messages: {max(lost, 0)} (target 0)")
    say(f"\n  latency per delivery (ms)          {'n':>4} {'p50':>8} {'p95':>8} {'max':>8}")
    for function, items in sorted(by_function.items()):
        wait = [(o.started_at - o.queued_at) * 1000 for o in items]
        done = [(o.started_at + o.seconds - o.queued_at) * 1000 for o in items]
        run_ms = [o.seconds * 1000 for o in items]
        for label, values in (("event -> handler start", wait), ("event -> handler done", done), ("handler", run_ms)):
            say(
                f"  {function:<18} {label:<22} {len(values):>4} {percentile(values, 50):8.0f} "
                f"{percentile(values, 95):8.0f} {max(values):8.0f}"
            )
    for o in failed_outcomes[:5]:
        say(f"  failed: {o.function} {o.error}")
    all_ok = idle and all(count == n for count in checks.values()) and lost <= 0 and not failed_outcomes
    doubled = max(total_sns, total_slack) - expected_messages
    if doubled > 0:
        all_ok = False
        say("  duplicates: more messages than expected")
    say()
    say(target_line(f"twin burst of {n}: lost messages", str(max(lost, 0)), "0", lost <= 0))
    say(target_line(f"twin burst of {n}: doubled messages", str(max(doubled, 0)), "0", doubled <= 0))
    for function, items in sorted(by_function.items()):
        p95 = percentile([(o.started_at - o.queued_at) for o in items], 95)
        met = p95 <= BURST_P95_SECONDS
        all_ok &= met
        say(target_line(f"twin burst of {n}: {function} event -> start p95", f"{p95:.1f} s", "<= 2 s", met))
    return all_ok


if __name__ == "__main__":
    main()
