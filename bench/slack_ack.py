"""Benchmark: how fast the Slack interactivity endpoint answers on the offline twin (issue 13).

Slack wants an HTTP 200 within 3 seconds. Starts the twin in-process with the repository's config
plus Slack approvals for rc-fraud-detection, registers one version, then --clicks times: presses
Approve (the function checks the signature, opens the reason modal through the twin's Slack
stand-in, answers) and submits the modal (checks, queues the decision, answers), each a signed
request to `/slack/interactivity` on the twin's port, timed from the client's side (HTTP round
trip, the twin's function URL and its execution environment included). Reports p50/p95/max of
both; the first request of each kind includes the function's cold start.
Run: .venv/bin/python bench/slack_ack.py [--clicks 100]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from targets import target_line

REPO = Path(__file__).resolve().parent.parent
ACK_SECONDS = 3.0  # Slack's limit for an interactivity answer
ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET = "registry-workflow-bench-slack"
GROUP = "rc-fraud-detection"
SLACK_POLICY = f"""
[projects."{GROUP}".approval]
slack = true

# four eyes (the default): the approver is tied to an IAM identity that is not the registrant
# (the bench registers as the account's root, what plain test keys stand for)
[defaults.approval.slack_approvers]
rc = [{{ user = "U0BENCH", iam = ["arn:aws:iam::{ACCOUNT}:user/bench-reviewer"] }}]
"""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=100)
    args = parser.parse_args()
    for key in [k for k in os.environ if k.startswith(("AWS_", "POWERTOOLS_"))]:
        del os.environ[key]
    os.environ |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    sys.path.insert(0, str(REPO / "layers" / "registry_workflow"))

    from registry_workflow.local.twin import Twin

    with tempfile.TemporaryDirectory() as workdir:
        config = Path(workdir) / "config"
        shutil.copytree(REPO / "config", config)
        (config / "policy.toml").write_text((REPO / "config" / "policy.toml").read_text() + SLACK_POLICY)
        report = io.StringIO()
        twin = Twin(port=0, transition_seconds=0.2, config_dir=config)
        with twin, contextlib.redirect_stdout(io.StringIO()):
            ok = run(twin, config, args.clicks, report)
    print(report.getvalue(), end="")
    print(f"\nall targets met: {'yes' if ok else 'NO'}")


def run(twin: Any, config_dir: Path, clicks: int, out: io.StringIO) -> bool:
    import boto3
    from registry_workflow.config import load_config
    from registry_workflow.local.slack_clicks import SlackUser, opened_views
    from registry_workflow.provisioning import reconcile

    def say(*text: str) -> None:
        print(*text, file=out)

    session = boto3.session.Session()
    sm = session.client("sagemaker", endpoint_url=twin.url)
    s3 = session.client("s3", endpoint_url=twin.url)
    reconcile(load_config(config_dir), sm)
    s3.create_bucket(Bucket=BUCKET)
    metrics = {"binary_classification_metrics": {"auc": {"value": 0.93}, "accuracy": {"value": 0.91}}}
    s3.put_object(Bucket=BUCKET, Key=f"{GROUP}/1/statistics.json", Body=json.dumps(metrics))
    arn = sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{GROUP}:1"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{GROUP}/1/statistics.json"}
            }
        },
    )["ModelPackageArn"]
    assert twin.wait_idle(60)
    user = SlackUser(twin.url, twin.control_url, twin.slack_signing_secret, "U0BENCH", "bench")
    # the version's "validated" message: its buttons carry the version's ARN and CreationTime
    message = next(m for m in twin.log.slack if arn in json.dumps(m) and "registry-workflow-approve" in json.dumps(m))
    click_seconds, submit_seconds, refused = [], [], 0
    for i in range(clicks):
        before = len(opened_views(_log(twin)))
        clicked = user.click(arn, "approve", message=message)
        click_seconds.append(clicked.seconds)
        views = opened_views(_log(twin))[before:]
        if clicked.status != 200 or not views:
            refused += 1
            continue
        submitted = user.submit(views[0], f"bench decision {i}")
        submit_seconds.append(submitted.seconds)
        refused += submitted.status != 200
    twin.wait_idle(60)
    say(f"Slack interactivity on the twin: {clicks} Approve clicks, each submitted (one version)")
    ok = refused == 0
    for name, values in (("click → modal opened", click_seconds), ("submit → decision queued", submit_seconds)):
        if not values:
            say(f"  {name}: no answers")
            ok = False
            continue
        p50, p95 = percentile(values, 50), percentile(values, 95)
        say(f"  {name:<26} p50 {p50 * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms   max {max(values) * 1000:6.0f} ms")
        met = p95 < ACK_SECONDS
        ok &= met
        target_line(f"slack ack p95: {name}", f"{p95 * 1000:.0f} ms (p50 {p50 * 1000:.0f} ms)", "< 3 s", met)
    say(f"  answers other than 200: {refused}")
    status = sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"]
    say(f"  the version after {clicks} decisions: {status} (the first decided; the rest answered 'already approved')")
    return ok and status == "Approved"


def _log(twin: Any) -> dict[str, Any]:
    return {"slack_api": list(twin.log.slack_api)}


if __name__ == "__main__":
    main()
