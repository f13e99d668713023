"""Benchmark: AWS API calls and wall time of each handler, per event type, against in-process moto.

The handlers are the functions' own `app.py` (Powertools decorators included), fed the events the
offline twin builds from moto's changes (`registry_workflow.local.twin`, AWS's shape). Every API
call through the shared clients is counted by a botocore `before-call.*.*` hook; calls to the
idempotency table are reported apart from the handler's own work. A local HTTP server on
127.0.0.1 stands in for the Slack webhook; SNS delivers to an SQS subscription.

Cases: validator on a new version (targets <= 4 SageMaker + S3 calls; with regression rules,
against a champion this container stamped and one stamped elsewhere), notifier on registered / validated /
approved / rejected (<= 2 calls + 1 webhook post), duplicates (0 calls beyond the idempotency
check), deployer on a fresh endpoint and on an update (<= 6 calls each), tracker. Then a burst of
--burst versions through validator + notifier: every message delivered, 0 lost.

Wall time is the median over the runs of a case (clients are created before the first run, as a
warm Lambda container has them; the first run of a case still pays one-time costs).
Run: .venv/bin/python bench/events.py [--versions 5] [--burst 100] [--burst-workers 4]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from targets import target_line

REPO = Path(__file__).resolve().parent.parent
ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET = "registry-workflow-bench-metrics"
IDEMPOTENCY_TABLE = "bench-idempotency"
LEDGER_TABLE = "bench-ledger"
SECRET = "bench/slack-webhook"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/registry-workflow-sagemaker-execution"
SERVICES = ("sagemaker", "s3", "sns", "sqs", "dynamodb", "secretsmanager", "cloudwatch")
SHORT = {"sagemaker": "sm"}
VALIDATION = ("sagemaker", "s3")

FRAUD, AML, RECO = "rc-fraud-detection", "rc-anti-money-laundering", "algo-recommendation-engine"
#: metrics that pass each project's policy in config/policy.toml (statistics JSON or flat)
GOOD = {
    FRAUD: {"binary_classification_metrics": {"auc": {"value": 0.93}, "accuracy": {"value": 0.91}}},
    AML: {"binary_classification_metrics": {"recall": {"value": 0.95}, "precision": {"value": 0.7}}},
    RECO: {"regression_metrics": {"rmse": {"value": 0.9}, "mae": {"value": 0.6}}},
}
BAD = {AML: {"recall": 0.5}}

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "REGISTRY_CONFIG_DIR": str(REPO / "config"),
    "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
    "LEDGER_TABLE": LEDGER_TABLE,
    "SLACK_WEBHOOK_SECRET_ID": SECRET,
    "SAGEMAKER_EXECUTION_ROLE_ARN": ROLE_ARN,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "RegistryWorkflowBench",
}


# --- counting ---------------------------------------------------------------------------------------


class CallCounter:
    """`before-call.*.*` on every shared client: service:Operation, idempotency table apart."""

    def __init__(self) -> None:
        self.recording = False
        self.calls: Counter[str] = Counter()
        self.idempotency: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any, service: str) -> None:
        def hook(model: Any, params: dict[str, Any], **_: Any) -> None:
            if not self.recording:
                return
            name = f"{service}:{model.name}"
            with self._lock:
                if service == "dynamodb" and _table_of(params) == IDEMPOTENCY_TABLE:
                    self.idempotency[name] += 1
                else:
                    self.calls[name] += 1

        client.meta.events.register("before-call.*.*", hook)

    def start(self) -> None:
        with self._lock:
            self.calls, self.idempotency, self.recording = Counter(), Counter(), True

    def stop(self) -> tuple[Counter[str], Counter[str]]:
        with self._lock:
            self.recording = False
            return self.calls, self.idempotency


def _table_of(params: dict[str, Any]) -> str | None:
    body = params.get("body") or b"{}"
    try:
        return json.loads(body).get("TableName")
    except (ValueError, AttributeError):
        return None


class SlackSink:
    """Stands in for a Slack incoming webhook: answers 200, counts the posts."""

    def __init__(self) -> None:
        sink = self
        self.posts: list[dict[str, Any]] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.posts.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/bench"

    def count(self) -> int:
        with self._lock:
            return len(self.posts)


# --- the world --------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    target_calls: int | None  # calls beyond the idempotency table
    target_posts: int | None = None
    #: the target counts these services' calls only: SageMaker for the deployer (docs/decisions.md
    #: 11); SageMaker + S3 for the validator (its ledger work, the gate's verdict record and the
    #: audit entries, is bookkeeping counted apart like the deployer's)
    services: tuple[str, ...] = ()
    runs: list[tuple[Counter[str], Counter[str], int, float]] = field(default_factory=list)

    def calls(self) -> Counter[str]:
        """The run with the most calls (the cases are deterministic; this is the worst run)."""
        return max((r[0] for r in self.runs), key=lambda c: sum(c.values()), default=Counter())

    def total(self) -> int:
        return sum(self.calls().values())

    def sagemaker(self) -> int:
        return sum(n for op, n in self.calls().items() if op.startswith("sagemaker:"))

    def idempotency(self) -> int:
        return max((sum(r[1].values()) for r in self.runs), default=0)

    def posts(self) -> int:
        return max((r[2] for r in self.runs), default=0)

    def counted(self) -> int:
        if not self.services:
            return self.total()
        return sum(n for op, n in self.calls().items() if op.split(":")[0] in self.services)

    def met(self) -> bool:
        counted = self.counted()
        calls_ok = self.target_calls is None or counted <= self.target_calls
        posts_ok = self.target_posts is None or self.posts() <= self.target_posts
        return calls_ok and posts_ok


class World:
    def __init__(self, slack: SlackSink) -> None:
        import boto3
        from registry_workflow import aws
        from registry_workflow.ledger import DeploymentLedger
        from registry_workflow.local.twin import endpoint_event, model_package_event

        self.slack = slack
        self.counter = CallCounter()
        setup = boto3.session.Session()
        self.sm = setup.client("sagemaker")
        self.s3 = setup.client("s3")
        self.s3.create_bucket(Bucket=BUCKET)
        sns, self.sqs = setup.client("sns"), setup.client("sqs")
        self.topic = sns.create_topic(Name="bench-notifications")["TopicArn"]
        os.environ["NOTIFICATION_TOPIC_ARN"] = self.topic
        self.queue_url = self.sqs.create_queue(QueueName="bench-subscriber")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
        setup.client("secretsmanager").create_secret(Name=SECRET, SecretString=json.dumps({"url": slack.url}))
        setup.client("dynamodb").create_table(
            TableName=IDEMPOTENCY_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        DeploymentLedger(LEDGER_TABLE, setup.client("dynamodb")).create_table()
        for group in (FRAUD, AML, RECO):
            self.sm.create_model_package_group(ModelPackageGroupName=group)
        # versions are registered by a data scientist's own IAM user: the gate refuses an approval
        # by the version's registrant (four eyes), and the bench approves as the account's root
        iam = setup.client("iam")
        iam.create_user(UserName="bench-registrant")
        key = iam.create_access_key(UserName="bench-registrant")["AccessKey"]
        self.registrant_sm = boto3.session.Session(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
        ).client("sagemaker")
        # the handlers' shared clients, created now (a warm container has them) and hooked
        aws.reset_clients()
        for service in SERVICES:
            self.counter.attach(aws.client(service), service)
        self._clients_before = aws.clients_made()
        self.handlers = {
            name: _load(REPO / "functions" / name / "app.py")
            for name in ("validator", "notifier", "deployer", "tracker")
        }
        # the events AWS would emit, built by the twin's code from moto's changes
        self.events: list[dict[str, Any]] = []
        self._builders = {"model_package": model_package_event, "endpoint": endpoint_event}
        from registry_workflow.local import moto_fixes

        self._unsubscribe = moto_fixes.subscribe(
            lambda kind, payload: self.events.append(self._builders[kind](payload))
        )
        self._versions: Counter[str] = Counter()

    def close(self) -> None:
        from registry_workflow import aws

        self._unsubscribe()
        if aws.clients_made() != self._clients_before:
            print("  warning: a handler created a client the counter did not hook", file=sys.stderr)

    # --- doing things as a user would ----------------------------------------------------------

    def register(self, group: str, metrics: Any) -> tuple[str, dict[str, Any]]:
        """Register a version with metrics in S3; returns its ARN and its creation event."""
        self._versions[group] += 1
        key = f"{group}/v{self._versions[group]}/statistics.json"
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(metrics))
        arn = self.registrant_sm.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{group}:latest"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelMetrics={
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}"}}
            },
        )["ModelPackageArn"]
        return arn, self.last_event(arn)

    def approve(self, arn: str) -> dict[str, Any]:
        self.sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        return self.last_event(arn)

    def last_event(self, resource: str) -> dict[str, Any]:
        return next(e for e in reversed(self.events) if e["resources"] == [resource])

    def endpoint_events(self, since: int) -> list[dict[str, Any]]:
        return [e for e in self.events[since:] if e["detail-type"] == "SageMaker Endpoint State Change"]

    # --- running a handler and measuring it -----------------------------------------------------

    def run(self, case: Case, handler: str, event: dict[str, Any]) -> dict[str, Any]:
        from registry_workflow.local.twin import LambdaContext

        posts = self.slack.count()
        self.counter.start()
        started = time.perf_counter()
        result = self.handlers[handler].lambda_handler(json.loads(json.dumps(event)), LambdaContext(handler))
        seconds = time.perf_counter() - started
        calls, idempotency = self.counter.stop()
        case.runs.append((calls, idempotency, self.slack.count() - posts, seconds))
        return dict(result)

    def sns_count(self) -> int:
        total = 0
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return total
            total += len(messages)
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )


def _load(path: Path) -> ModuleType:
    from registry_workflow.local.template import load_handler_module

    return load_handler_module(path)


# --- the cases --------------------------------------------------------------------------------------


def run_cases(world: World, versions: int) -> list[Case]:
    c = {
        "v_new": Case("validator  new version (min/max rules)", 4, services=VALIDATION),
        "v_new_reg0": Case("validator  new version, regression rules, no champion", 4, services=VALIDATION),
        "v_new_reg": Case("validator  regression, first use of a champion stamped here", 4, services=VALIDATION),
        "v_new_reg1": Case("validator  regression, first use of a champion stamped elsewhere", 4, services=VALIDATION),
        "v_reject": Case("validator  new version, failing -> auto-rejected", 4, services=VALIDATION),
        "v_dup": Case("validator  duplicate delivery", 0),
        "v_stamp": Case("validator  its own stamp's event (metadata-only)", 0),
        "n_first": Case("notifier   first invocation in a container (secret cache cold)", None),
        "n_reg": Case("notifier   registered", 2, 1),
        "n_val": Case("notifier   validated (stamp)", 2, 1),
        "n_appr": Case("notifier   approved", 2, 1),
        "n_rej": Case("notifier   rejected (by the validator)", 2, 1),
        "n_dup": Case("notifier   duplicate delivery (registered/approved)", 0, 0),
        "d_fresh": Case("deployer   approved, fresh endpoint", 6, services=("sagemaker",)),
        "d_update": Case("deployer   approved, update (existing endpoint)", 6, services=("sagemaker",)),
        "d_dup": Case("deployer   duplicate delivery", 0),
        "d_rej": Case("deployer   rejected, version not live", None),
        "t_busy": Case("tracker    endpoint Creating/Updating", None),
        "t_done": Case("tracker    endpoint InService -> succeeded", None),
    }
    # validation and notification of new versions (groups with absolute rules only)
    for i in range(versions):
        group = (AML, RECO)[i % 2]
        arn, created = world.register(group, GOOD[group])
        world.run(c["v_new"], "validator", created)
        world.run(c["v_dup"], "validator", created)
        stamp = world.last_event(arn)
        world.run(c["v_stamp"], "validator", stamp)
        world.run(c["n_reg" if i else "n_first"], "notifier", created)
        world.run(c["n_dup"], "notifier", created)
        world.run(c["n_val"], "notifier", stamp)
        # a failing version: the validator rejects it, the notifier and deployer hear of it
        arn, created = world.register(AML, BAD[AML])
        world.run(c["v_reject"], "validator", created)
        rejected = world.last_event(arn)
        world.run(c["n_rej"], "notifier", rejected)
        world.run(c["d_rej"], "deployer", rejected)

    # deployments: v1 of each group → fresh endpoint; v2 → update (canary for fraud detection)
    for round_, case in ((1, c["d_fresh"]), (2, c["d_update"])):
        for group in (FRAUD, AML, RECO):
            arn, created = world.register(group, GOOD[group])
            if group == FRAUD:
                world.run(c["v_new_reg0" if round_ == 1 else "v_new_reg"], "validator", created)
            else:
                world.run(c["v_new"], "validator", created)
            approved = world.approve(arn)
            world.run(c["n_appr"], "notifier", approved)
            world.run(c["n_dup"], "notifier", approved)
            mark = len(world.events)
            result = world.run(case, "deployer", approved)
            assert result.get("action") == "started", result
            world.run(c["d_dup"], "deployer", approved)
            for event in world.endpoint_events(mark):
                busy = event["detail"]["EndpointStatus"] in {"CREATING", "UPDATING"}
                world.run(c["t_busy" if busy else "t_done"], "tracker", event)
    # more versions of fraud detection against the approved champion: in a container that knows
    # the champion (it stamped it), and in one that meets it for the first time (a new container)
    from registry_workflow.validation import forget_champions

    for _ in range(max(1, versions - 1)):
        _, created = world.register(FRAUD, GOOD[FRAUD])
        forget_champions()
        world.run(c["v_new_reg1"], "validator", created)
        _, created = world.register(FRAUD, GOOD[FRAUD])
        world.run(c["v_new_reg"], "validator", created)
    return list(c.values())


def burst(world: World, n: int, workers: int) -> dict[str, Any]:
    """n versions registered at once, then every event through validator and notifier."""
    groups = (FRAUD, AML, RECO)
    world.sns_count()  # drain what the cases left in the subscriber queue
    slack_before = world.slack.count()
    mark = len(world.events)
    started = time.perf_counter()
    for i in range(n):
        group = groups[i % 3]
        world.register(group, GOOD[group])
    registered = time.perf_counter() - started
    created = world.events[mark:]
    failures: list[str] = []

    def deliver(handler: str, event: dict[str, Any]) -> None:
        from registry_workflow.local.twin import LambdaContext

        try:
            world.handlers[handler].lambda_handler(json.loads(json.dumps(event)), LambdaContext(handler))
        except Exception as exc:  # noqa: BLE001 - a failed delivery is what the burst counts
            failures.append(f"{handler}: {type(exc).__name__}: {exc}")

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        # registration: the notifier announces, the validator stamps (the stamp is a new event)
        list(pool.map(lambda e: deliver("notifier", e), created))
        list(pool.map(lambda e: deliver("validator", e), created))
        stamps = [e for e in world.events[mark:] if e["detail"].get("UpdatedModelPackageFields")]
        list(pool.map(lambda e: deliver("notifier", e), stamps))
    handled = time.perf_counter() - started
    expected = 2 * n  # "registered" + "validation passed" per version
    return {
        "versions": n,
        "register_seconds": registered,
        "handle_seconds": handled,
        "stamp_events": len(stamps),
        "sns": world.sns_count(),
        "slack": world.slack.count() - slack_before,
        "expected": expected,
        "failures": failures,
    }


# --- report -----------------------------------------------------------------------------------------


def report(cases: list[Case], burst_result: dict[str, Any] | None, workers: int) -> bool:
    print("AWS API calls and wall time per handler invocation (in-process moto, functions/*/app.py)")
    print(
        "  calls: all AWS calls except the idempotency table ((sm): SageMaker only); counted: the calls the"
        " target counts; idem: idempotency table"
    )
    header = f"  {'case':<62} {'runs':>4} {'calls':>5} {'(sm)':>4} {'idem':>4} {'slack':>5} {'p50 ms':>7} {'max ms':>7}"
    print(header + f"  {'counted':>7}  {'target':<20} met")
    all_met = True
    targets: list[tuple[str, str, str, bool]] = []
    for case in cases:
        if not case.runs:
            continue
        times = [r[3] * 1000 for r in case.runs]
        unit = f"{'+'.join(SHORT.get(s, s) for s in case.services)} calls" if case.services else "calls"
        target = "" if case.target_calls is None else f"<= {case.target_calls} {unit}"
        if case.target_posts is not None:
            target += f" + {case.target_posts} post"
        met = "-" if not target else ("yes" if case.met() else "NO")
        all_met &= met != "NO"
        if target:
            targets.append(
                (
                    case.name,
                    f"{case.counted()} {unit}" + (f" + {case.posts()} post" if case.target_posts is not None else ""),
                    target,
                    case.met(),
                )
            )
        sagemaker = case.sagemaker()
        print(
            f"  {case.name:<62} {len(case.runs):>4} {case.total():>5} {sagemaker:>4} {case.idempotency():>4} "
            f"{case.posts():>5} {statistics.median(times):>7.1f} {max(times):>7.1f}  {case.counted():>7}  "
            f"{target:<20} {met}"
        )
    print("\n  calls per service:operation (worst run of each case; idempotency table apart)")
    for case in cases:
        if not case.runs:
            continue
        ops = ", ".join(f"{op} {n}" for op, n in sorted(case.calls().items())) or "none"
        idem = max((r[1] for r in case.runs), key=lambda c: sum(c.values()))
        idem_text = ", ".join(f"{op} {n}" for op, n in sorted(idem.items())) or "none"
        print(f"  {case.name.split('  ')[0].strip():<10} {case.name.split('  ', 1)[1].strip()}")
        print(f"      calls: {ops}")
        print(f"      idempotency: {idem_text}")
    if burst_result:
        b = burst_result
        lost_sns, lost_slack = b["expected"] - b["sns"], b["expected"] - b["slack"]
        ok = lost_sns == 0 and lost_slack == 0 and not b["failures"]
        all_met &= ok
        print(
            f"\nburst: {b['versions']} versions registered in {b['register_seconds']:.2f} s, then "
            f"validator + notifier ({workers} concurrent invocations) in {b['handle_seconds']:.2f} s "
            f"({b['versions'] / b['handle_seconds']:.1f} versions/s)"
        )
        print(
            f"  messages expected {b['expected']} (registered + validated per version); "
            f"SNS delivered to SQS {b['sns']}, Slack posts {b['slack']}; "
            f"handler failures {len(b['failures'])}"
        )
        print(f"  lost: SNS {lost_sns}, Slack {lost_slack}   (target 0)  met: {'yes' if ok else 'NO'}")
        targets.append(
            (f"burst of {b['versions']} through validator + notifier: lost", f"{lost_sns + lost_slack}", "0", ok)
        )
        for failure in b["failures"][:5]:
            print(f"    {failure}")
    print()
    for figure, measured, target, met in targets:
        target_line(" ".join(figure.split()), measured, target, met)
    return all_met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=5, help="runs per validator/notifier case")
    parser.add_argument("--burst", type=int, default=100, help="versions in the burst (0: skip)")
    parser.add_argument("--burst-workers", type=int, default=4, help="concurrent handler invocations")
    args = parser.parse_args()
    for key in list(os.environ):
        if key.startswith("AWS_") or key.startswith("POWERTOOLS_"):
            del os.environ[key]
    os.environ.update(ENV)
    sys.path.insert(0, str(REPO / "layers" / "registry_workflow"))

    from moto import mock_aws
    from registry_workflow.local import moto_fixes

    moto_fixes.apply()
    slack = SlackSink()
    with mock_aws():
        world = World(slack)
        try:
            # the handlers' EMF metric lines go to stdout: keep them out of the report
            with contextlib.redirect_stdout(io.StringIO()):
                cases = run_cases(world, args.versions)
                burst_result = burst(world, args.burst, args.burst_workers) if args.burst else None
        finally:
            world.close()
    ok = report(cases, burst_result, args.burst_workers)
    print(f"\nall targets met: {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
