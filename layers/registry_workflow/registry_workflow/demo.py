"""`make demo`: the whole approval workflow on the offline twin, told as a timeline.

Provision the seed's three groups; register v1 of rc-fraud-detection with good metrics →
validated → announced; approve → endpoint created → in service → ledger succeeded; register v2
with poor metrics → rejected automatically, with the reason; register v3 → approve → guarded
(canary) update → live; reject v3 → rollback to v1. Ends with the seed's `list-model-packages`
table, `registry-workflow status` and the audit trail, and writes the HTML report
(`registry-workflow report`, `build/demo-report.html` or the path given as the only argument),
printing its path last. Exits 0 only if every step happened as expected.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

GROUP = "rc-fraud-detection"
BUCKET = "sagemaker-demo-artifacts"
IMAGE = "123456789012.dkr.ecr.{region}.amazonaws.com/fraud-detection:1.0"
STEP_TIMEOUT = 20.0
#: where `make demo` writes its report (build/ is not committed)
REPORT = Path("build") / "demo-report.html"


_print_lock = threading.Lock()


def say(line: str) -> None:
    """One whole line at a time: the twin's event bus prints from its own thread."""
    with _print_lock:
        print(line, flush=True)


class Story:
    """Prints a numbered timeline and remembers which expectations failed."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.failures: list[str] = []
        self.step_no = 0

    def clock(self) -> str:
        return f"[{time.monotonic() - self.started:5.1f}s]"

    def step(self, text: str) -> None:
        self.step_no += 1
        say(f"\n{self.clock()} STEP {self.step_no}: {text}")

    def expect(self, what: str, condition: Callable[[], Any], timeout: float = STEP_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = condition()
            except Exception:  # noqa: BLE001 - a condition that cannot be read yet is "not yet"
                value = None
            if value:
                say(f"{self.clock()}   ✔ {what}")
                return value
            time.sleep(0.1)
        say(f"{self.clock()}   ✘ {what} (not seen within {timeout:.0f} s)")
        self.failures.append(what)
        return None


def main(report_path: Path | None = None) -> int:
    from registry_workflow.local.twin import Twin

    repo = Path.cwd()
    report_path = report_path or repo / REPORT
    story = Story()
    print("registry-workflow demo: the SageMaker Model Registry approval workflow on the offline twin")
    with Twin(
        port=0,
        template_path=repo / "template.yaml",
        config_dir=repo / "config",
        transition_seconds=1.0,
        echo=lambda line: say(f"{story.clock()}     {line}"),
    ) as twin:
        print(f"twin ready on {twin.url}")
        run(story, twin, repo)
        write_report(story, report_path)
    if story.failures:
        print(f"\nDEMO FAILED: {len(story.failures)} expectation(s) not met: {story.failures}")
        return 1
    print(f"\nDEMO OK: every step happened as expected ({time.monotonic() - story.started:.1f} s).")
    print(f"report: {report_path.resolve()} (open it in a browser)")
    return 0


def write_report(story: Story, out: Path) -> None:
    """End with the page people open: `registry-workflow report --out <out>` against the twin."""
    story.step(f"registry-workflow report --out {out}: what is live where, every version, metric charts")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(  # noqa: S603 - our own venv's CLI, fixed arguments
        [str(Path(sys.executable).parent / "registry-workflow"), "report", "--out", str(out)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
    )
    print(done.stdout or done.stderr)
    story.expect("the report is written", lambda: done.returncode == 0 and out.is_file())
    story.expect(f"it charts {GROUP}'s auc across v1..v3", lambda: 'data-metric="auc"' in out.read_text())


def run(story: Story, twin: Any, repo: Path) -> None:
    from registry_workflow import aws
    from registry_workflow.config import load_config
    from registry_workflow.ledger import DeploymentLedger
    from registry_workflow.provisioning import GroupState, reconcile

    sagemaker, s3 = aws.client("sagemaker"), aws.client("s3")
    config = load_config(repo / "config")
    project = config.project_for_group(GROUP)
    assert project is not None
    endpoint = project.endpoint_name
    ledger = DeploymentLedger("LedgerTable")

    story.step("provision the seed's groups from config/.env.shared")
    report = reconcile(config, sagemaker)
    story.expect(
        f"created {', '.join(report.names(GroupState.CREATED))}",
        lambda: set(report.names(GroupState.CREATED)) == set(config.group_names),
    )
    if twin.region == "us-east-1":
        s3.create_bucket(Bucket=BUCKET)
    else:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": twin.region})
    reviewer = reviewer_client(twin)

    def register(version: int, metrics: dict[str, float]) -> str:
        key = f"{GROUP}/v{version}/statistics.json"
        statistics = {"binary_classification_metrics": {k: {"value": v} for k, v in metrics.items()}}
        s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(statistics).encode())
        say(f"{story.clock()}   metrics uploaded to s3://{BUCKET}/{key}: {metrics}")
        return str(
            sagemaker.create_model_package(
                ModelPackageGroupName=GROUP,
                ModelPackageDescription=f"Fraud detection model v{version}",
                ModelApprovalStatus="PendingManualApproval",
                InferenceSpecification={
                    "Containers": [
                        {
                            "Image": IMAGE.format(region=twin.region),
                            "ModelDataUrl": f"s3://{BUCKET}/{GROUP}/v{version}/model.tar.gz",
                        }
                    ],
                    "SupportedContentTypes": ["application/json"],
                    "SupportedResponseMIMETypes": ["application/json"],
                    "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large", "ml.m5.xlarge"],
                },
                ModelMetrics={
                    "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}"}}
                },
            )["ModelPackageArn"]
        )

    def described(arn: str) -> dict[str, Any]:
        return dict(sagemaker.describe_model_package(ModelPackageName=arn))

    def stamp(arn: str) -> str | None:
        return (described(arn).get("CustomerMetadataProperties") or {}).get("validation.status")

    def live_version() -> int | None:
        record = ledger.live(endpoint)
        return record.version if record else None

    def endpoint_config() -> str:
        return str(sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"])

    def announced(arn: str) -> int:
        return sum(1 for m in twin.log.slack if arn in json.dumps(m))

    story.step(f"register v1 of {GROUP} with good metrics (auc 0.91, accuracy 0.93)")
    v1 = register(1, {"auc": 0.91, "accuracy": 0.93})
    story.expect("v1 validated: stamped passed, left for review", lambda: stamp(v1) == "passed")
    story.expect(
        "v1 still PendingManualApproval (auto_approve is off)",
        lambda: described(v1)["ModelApprovalStatus"] == "PendingManualApproval",
    )
    story.expect("v1 announced on Slack (registered, validated)", lambda: announced(v1) >= 2)

    story.step("the data scientist approves their own v1: the gate refuses it (four eyes)")
    sagemaker.update_model_package(ModelPackageArn=v1, ModelApprovalStatus="Approved")
    story.expect(
        "v1 back to PendingManualApproval: 'approval refused: approved by its own registrant'",
        lambda: (
            described(v1)["ModelApprovalStatus"] == "PendingManualApproval"
            and "approved by its own registrant" in described(v1).get("ApprovalDescription", "")
        ),
    )
    story.expect("nothing deployed", lambda: live_version() is None)
    twin.wait_idle()

    story.step("a reviewer approves v1 (aws sagemaker update-model-package --model-approval-status Approved)")
    reviewer.update_model_package(ModelPackageArn=v1, ModelApprovalStatus="Approved", ApprovalDescription="LGTM")
    story.expect(f"endpoint {endpoint} created", lambda: sagemaker.describe_endpoint(EndpointName=endpoint))
    story.expect(
        "endpoint InService on v1's config",
        lambda: (
            sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
            and "-v1-" in endpoint_config()
        ),
    )
    story.expect("ledger: v1 succeeded, live", lambda: live_version() == 1)

    story.step("register v2 with poor metrics (auc 0.71)")
    v2 = register(2, {"auc": 0.71, "accuracy": 0.90})
    rejected = story.expect("v2 rejected automatically", lambda: described(v2)["ModelApprovalStatus"] == "Rejected")
    if rejected:
        say(f"{story.clock()}   reason: {described(v2).get('ApprovalDescription')}")
    story.expect("the reason names the failed rule", lambda: "auc" in described(v2).get("ApprovalDescription", ""))
    story.expect("v1 still live", lambda: live_version() == 1)

    story.step("register v3 with better metrics (auc 0.92), and approve it")
    v3 = register(3, {"auc": 0.92, "accuracy": 0.94})
    story.expect("v3 validated: stamped passed", lambda: stamp(v3) == "passed")
    reviewer.update_model_package(ModelPackageArn=v3, ModelApprovalStatus="Approved")
    story.expect(
        f"guarded update started ({project.policy.deploy.strategy}, {project.policy.deploy.traffic_percent}%)",
        lambda: any(d.version == 3 and d.status in {"in_progress", "succeeded"} for d in ledger.for_endpoint(endpoint)),
    )
    story.expect("endpoint InService on v3's config; ledger: v3 live", lambda: live_version() == 3)

    story.step("a reviewer rejects v3, the live version")
    reviewer.update_model_package(
        ModelPackageArn=v3, ModelApprovalStatus="Rejected", ApprovalDescription="Drift seen in shadow traffic"
    )
    story.expect("rolled back: v1 live again", lambda: live_version() == 1 and "-v1-" in endpoint_config())
    story.expect(
        "ledger: v3's deployment marked rolled_back",
        lambda: any(d.version == 3 and d.status == "rolled_back" for d in ledger.for_endpoint(endpoint)),
    )
    twin.wait_idle()

    story.step("the seed's list-model-packages table")
    env = dict(os.environ)
    table = subprocess.run(  # noqa: S603 - our own venv's aws CLI, fixed arguments
        [
            str(Path(sys.executable).parent / "aws"),
            "sagemaker",
            "list-model-packages",
            "--model-package-group-name",
            GROUP,
            "--query",
            "ModelPackageSummaryList[].{ARN:ModelPackageArn,Status:ModelApprovalStatus,Created:CreationTime}",
            "--output",
            "table",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    print(table.stdout or table.stderr)
    story.expect("three versions listed", lambda: table.stdout.count("model-package/rc-fraud-detection/") == 3)

    story.step("registry-workflow status")
    status = subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "registry-workflow"), "status"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    print(status.stdout or status.stderr)
    story.expect("status shows v1 live on the endpoint", lambda: re.search(rf"{endpoint}\s+v1\s", status.stdout))

    story.step(f"registry-workflow audit {GROUP} --verify: every transition, hash-chained")
    audit = subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "registry-workflow"), "audit", GROUP, "--verify"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    print(audit.stdout or audit.stderr)
    story.expect("the audit trail verifies", lambda: audit.returncode == 0 and "chain verified" in audit.stdout)
    story.expect(
        "it shows the refused self-approval and the rollback",
        lambda: " refused " in audit.stdout and " rolled_back " in audit.stdout,
    )


def reviewer_client(twin: Any) -> Any:
    """SageMaker as a reviewer, an IAM user of the twin: the gate refuses an approval by the registrant."""
    import boto3

    from registry_workflow import aws

    iam = aws.client("iam")
    iam.create_user(UserName="reviewer")
    key = iam.create_access_key(UserName="reviewer")["AccessKey"]
    session = boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    return session.client("sagemaker", endpoint_url=twin.url, region_name=twin.region)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
