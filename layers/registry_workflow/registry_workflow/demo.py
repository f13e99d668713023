"""`make demo`: the whole approval workflow on the offline twin, told as a timeline.

Provision the seed's three groups; register v1 of rc-fraud-detection with good metrics →
validated → announced; approve → endpoint created → in service → ledger succeeded; register v2
with poor metrics → rejected automatically, with the reason; register v3 → approve → guarded
(canary) update → live; reject v3 → rollback to v1; v1 of algo-recommendation-engine approved
from Slack (Approve on its message, a reason, deployed). Ends with the seed's `list-model-packages`
table, `registry-workflow status` and the audit trail, and writes the HTML report
(`registry-workflow report`, `build/demo-report.html` or the path given as the only argument),
printing its path last. Exits 0 only if every step happened as expected.
"""

from __future__ import annotations

import json
import os
import re
import shutil
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
#: how long a step's header waits for the last step's work to be printed, at most
SETTLE_TIMEOUT = 10.0
#: how the twin prints an SNS message it read back (local/twin.py)
SNS_LINE = "✉ sns"
#: the project approved from Slack in the demo, and the reviewer's Slack user id
SLACK_GROUP = "algo-recommendation-engine"
SLACK_REVIEWER = "U0REVIEWER"
SLACK_POLICY = f"""
[projects."{SLACK_GROUP}".approval]
slack = true

[defaults.approval.slack_approvers]
algo = [{{ user = "{SLACK_REVIEWER}", iam = ["arn:aws:iam::123456789012:user/reviewer"] }}]
"""
#: the project shown with two stages (the repository's config keeps one stage for every project)
STAGED_GROUP = "rc-anti-money-laundering"
STAGED_POLICY = f"""
[[projects."{STAGED_GROUP}".stages]]
name = "staging"

[[projects."{STAGED_GROUP}".stages]]
name = "production"
strategy = "canary"
traffic_percent = 10
instance_count = 2
"""
#: where `make demo` writes its report (build/ is not committed)
REPORT = Path("build") / "demo-report.html"


_print_lock = threading.Lock()


def say(line: str) -> None:
    """One whole line at a time: the twin's event bus prints from its own thread."""
    with _print_lock:
        print(line, flush=True)


class Story:
    """Prints a numbered timeline and remembers which expectations failed.

    The twin's lines (events, handler outcomes, messages) come from its own threads: the handlers
    run in worker processes, and SNS messages are read back from a queue. So a step's header waits
    until the previous step's work has settled (`settle`): no event queued, no invocation running,
    every SNS message it published printed. Each line then prints under the step that caused it.
    """

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.failures: list[str] = []
        self.step_no = 0
        self._twin: Any = None
        self._sns_queue = ""
        self._sns_published = 0
        self._sns_printed = 0
        self._printed = threading.Condition()

    def clock(self) -> str:
        return f"[{time.monotonic() - self.started:5.1f}s]"

    def step(self, text: str) -> None:
        self.settle()
        self.step_no += 1
        say(f"\n{self.clock()} STEP {self.step_no}: {text}")

    def echo(self, line: str) -> None:
        """A line of the twin's, printed at once (and counted when it is an SNS message read back)."""
        say(f"{self.clock()}     {line}")
        if line.lstrip().startswith(SNS_LINE):
            with self._printed:
                self._sns_printed += 1
                self._printed.notify_all()

    def follow(self, twin: Any) -> None:
        """Count what reaches the twin's topics on a queue of the demo's own (SNS delivers to it at publish)."""
        from registry_workflow import aws

        sqs, sns = aws.client("sqs"), aws.client("sns")
        self._sns_queue = sqs.create_queue(QueueName="demo-sns-published")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=self._sns_queue, AttributeNames=["QueueArn"])["Attributes"]
        for topic in sns.list_topics()["Topics"]:
            sns.subscribe(TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=attributes["QueueArn"])
        self._twin = twin

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until the twin is idle and every SNS message published so far has been printed."""
        if self._twin is None:
            return
        self._twin.wait_idle(timeout)
        self._sns_published += self._drain_sns_queue()
        with self._printed:
            self._printed.wait_for(lambda: self._sns_printed >= self._sns_published, timeout)

    def _drain_sns_queue(self) -> int:
        from registry_workflow import aws

        sqs, count = aws.client("sqs"), 0
        while messages := sqs.receive_message(QueueUrl=self._sns_queue, MaxNumberOfMessages=10).get("Messages"):
            count += len(messages)
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=self._sns_queue, Entries=entries)
        return count

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
    config_dir = slack_config(repo / "config", repo / "build" / "demo-config")
    os.environ["REGISTRY_CONFIG_DIR"] = str(config_dir)  # the CLI commands the story runs read the same
    with Twin(
        port=0,
        template_path=repo / "template.yaml",
        config_dir=config_dir,
        transition_seconds=1.0,
        echo=story.echo,
    ) as twin:
        print(f"twin ready on {twin.url}")
        story.follow(twin)
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
    config = load_config(os.environ.get("REGISTRY_CONFIG_DIR") or repo / "config")
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

    approve_in_slack(story, twin)
    promote_through_stages(story, twin, reviewer)

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


def slack_config(config: Path, directory: Path) -> Path:
    """The repository's config plus Slack approvals for one project, in `directory` (build/: not committed)."""
    shutil.rmtree(directory, ignore_errors=True)
    shutil.copytree(config, directory)
    policy = directory / "policy.toml"
    policy.write_text(policy.read_text() + SLACK_POLICY + STAGED_POLICY)
    return directory


def approve_in_slack(story: Story, twin: Any) -> None:
    """One version approved from its Slack message: click Approve, give a reason, see it deployed."""
    from registry_workflow import aws
    from registry_workflow.local.slack_clicks import SlackUser, opened_views, updates

    sagemaker, s3 = aws.client("sagemaker"), aws.client("s3")
    story.step(f"a reviewer approves v1 of {SLACK_GROUP} in Slack: Approve, a reason, submit")
    key = f"{SLACK_GROUP}/v1/statistics.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"regression_metrics": {"rmse": {"value": 0.9}}}).encode())
    arn = str(
        sagemaker.create_model_package(
            ModelPackageGroupName=SLACK_GROUP,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": IMAGE.format(region=twin.region).replace("fraud-detection", "recommender")}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelMetrics={
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}"}}
            },
        )["ModelPackageArn"]
    )

    def with_buttons() -> dict[str, Any] | None:
        return next(
            (m for m in twin.log.slack if arn in json.dumps(m) and "registry-workflow-approve" in json.dumps(m)), None
        )

    message = story.expect("v1 validated, announced on Slack with Approve and Reject buttons", with_buttons)
    if not message:
        return
    reviewer = SlackUser(twin.url, twin.control_url, twin.slack_signing_secret, SLACK_REVIEWER, "reviewer")
    seen = len(opened_views({"slack_api": twin.log.slack_api}))
    clicked = reviewer.click(arn, "approve", title=f"{SLACK_GROUP} v1: validated", message=message)
    views = story.expect(
        f"Approve clicked (signed request, answered HTTP {clicked.status} in {clicked.seconds * 1000:.0f} ms): "
        "the reason dialog opened (views.open)",
        lambda: opened_views({"slack_api": twin.log.slack_api})[seen:],
    )
    if not views:
        return
    submitted = reviewer.submit(views[0], "rmse 0.9 on the holdout; the A/B plan is signed off")
    story.expect(
        f"submitted (answered HTTP {submitted.status} at once; the decision is queued)",
        lambda: submitted.status == 200,
    )
    story.expect(
        "v1 Approved: 'approved in Slack by @reviewer (algo): rmse 0.9 on the holdout; …'",
        lambda: (
            sagemaker.describe_model_package(ModelPackageName=arn)
            .get("ApprovalDescription", "")
            .startswith("approved in Slack by @reviewer (algo)")
        ),
    )
    story.expect(
        "the message updated in place (chat.update): 'Approved by @reviewer', no buttons",
        lambda: any("Approved* by <@" in json.dumps(u) for u in updates({"slack_api": twin.log.slack_api})),
    )
    story.expect(
        f"the gate admits it on behalf of the Slack user: {SLACK_GROUP}-endpoint InService",
        lambda: sagemaker.describe_endpoint(EndpointName=f"{SLACK_GROUP}-endpoint")["EndpointStatus"] == "InService",
    )
    twin.wait_idle()


def promote_through_stages(story: Story, twin: Any, reviewer: Any) -> None:
    """A two-stage project: approved → staging; promoted → production (canary); a rejection rolls back both."""
    from registry_workflow import aws
    from registry_workflow.ledger import DeploymentLedger

    sagemaker, s3, ledger = aws.client("sagemaker"), aws.client("s3"), DeploymentLedger("LedgerTable")
    staging, production = f"{STAGED_GROUP}-staging", f"{STAGED_GROUP}-production"
    cli = str(Path(sys.executable).parent / "registry-workflow")

    def register(version: int, recall: float) -> str:
        key = f"{STAGED_GROUP}/v{version}/statistics.json"
        statistics = {"binary_classification_metrics": {"recall": {"value": recall}}}
        s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(statistics).encode())
        return str(
            sagemaker.create_model_package(
                ModelPackageGroupName=STAGED_GROUP,
                ModelApprovalStatus="PendingManualApproval",
                InferenceSpecification={
                    "Containers": [{"Image": IMAGE.format(region=twin.region).replace("fraud-detection", "aml")}],
                    "SupportedContentTypes": ["application/json"],
                    "SupportedResponseMIMETypes": ["application/json"],
                },
                ModelMetrics={
                    "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}"}}
                },
            )["ModelPackageArn"]
        )

    def live(endpoint: str) -> int | None:
        record = ledger.live(endpoint)
        return record.version if record and ledger.in_progress(endpoint) is None else None

    def stage_of(arn: str) -> str:
        lifecycle = sagemaker.describe_model_package(ModelPackageName=arn).get("ModelLifeCycle") or {}
        return f"{lifecycle.get('Stage')}/{lifecycle.get('StageStatus')}"

    def promote(version: int, reason: str) -> None:
        command = [cli, "promote", STAGED_GROUP, str(version), "--to", "production", "--reason", reason]
        done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), check=False)  # noqa: S603
        said = (done.stdout or done.stderr).splitlines()
        say(f"{story.clock()}   $ registry-workflow promote {STAGED_GROUP} {version} --to production --reason …")
        say(f"{story.clock()}   {said[0] if said else ''}")

    def through_both_stages(version: int, recall: float) -> str:
        story.step(f"{STAGED_GROUP} has two stages: v{version} registered (recall {recall}) and approved → staging")
        arn = register(version, recall)
        described = lambda: sagemaker.describe_model_package(ModelPackageName=arn)  # noqa: E731
        story.expect(
            f"v{version} validated",
            lambda: (described().get("CustomerMetadataProperties") or {}).get("validation.status") == "passed",
        )
        reviewer.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        story.expect(f"v{version} live in staging only ({staging})", lambda: live(staging) == version)
        story.expect("ModelLifeCycle: staging/Deployed", lambda: stage_of(arn) == "staging/Deployed")

        story.step(f"promote {STAGED_GROUP} v{version} to production (ModelLifeCycle: production/Approved)")
        promote(version, "a week in staging without errors")
        how = "created" if version == 1 else "by canary (10 % first)"
        story.expect(f"v{version} live in production ({production}, {how})", lambda: live(production) == version)
        story.expect("ModelLifeCycle: production/Deployed", lambda: stage_of(arn) == "production/Deployed")
        twin.wait_idle()
        return arn

    through_both_stages(1, 0.93)
    arn = through_both_stages(2, 0.95)
    story.step(f"a reviewer rejects {STAGED_GROUP} v2, live in both stages")
    reviewer.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription="false positives up in production"
    )
    story.expect(
        "both stages rolled back: v1 live in staging and in production",
        lambda: live(staging) == 1 and live(production) == 1,
    )
    twin.wait_idle()


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
