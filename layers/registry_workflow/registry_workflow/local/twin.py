"""The offline twin of AWS: moto + the project's fixes + the events AWS would emit + the template's wiring.

After every SageMaker change AWS would announce, the twin builds the EventBridge event AWS would
emit, matches it against the rules read from `template.yaml` (moto's matcher), and invokes the
target handler — the functions' own `app.py`, with the environment the template gives them —
the way Lambda's asynchronous invocation would: up to two retries, then the function's
on-failure queue. Any client counts: boto3, the aws CLI, the SageMaker SDK.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from registry_workflow.events import ENDPOINT_STATE_CHANGE, MODEL_PACKAGE_STATE_CHANGE, to_event_spelling
from registry_workflow.local import moto_fixes
from registry_workflow.local.server import HOST, LocalAws
from registry_workflow.local.template import (
    ACCOUNT,
    REGION,
    FunctionSpec,
    Template,
    load_handler_module,
    load_template,
    pattern_matches,
)

ASYNC_RETRIES = 2  # Lambda's asynchronous invocation retries an error twice
REPO = Path(__file__).resolve().parents[4]


@dataclass
class Outcome:
    """What happened to one delivery of one event to one function."""

    event_id: str
    function: str
    ok: bool
    attempts: int
    seconds: float
    result: Any = None
    error: str | None = None
    #: time.monotonic() when the event was queued on the bus, and when this delivery's first attempt began
    queued_at: float | None = None
    started_at: float | None = None


@dataclass
class TwinLog:
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)  # event ids, once per delivery
    outcomes: list[Outcome] = field(default_factory=list)
    slack: list[dict[str, Any]] = field(default_factory=list)
    sns: list[dict[str, Any]] = field(default_factory=list)
    queued_at: dict[str, float] = field(default_factory=dict)  # event id → time.monotonic() when queued


class LambdaContext:
    """What Powertools reads from a Lambda context."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class Twin:
    """Start with `start()`; `url` is the AWS endpoint, `control_url` the twin's own switches."""

    def __init__(
        self,
        *,
        port: int = 5000,
        template_path: str | Path = REPO / "template.yaml",
        config_dir: str | Path = REPO / "config",
        transition_seconds: float = 1.0,
        duplicate_events: bool = False,
        handler_logs: bool = False,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.aws = LocalAws(port)
        # parameters without a default that AWS gets from the operator (moto accepts any role)
        local_role = f"arn:aws:iam::{ACCOUNT}:role/registry-workflow-local"
        local_parameters = {"SageMakerExecutionRoleArn": local_role}
        self.template: Template = load_template(template_path, local_parameters)
        self.config_dir = Path(config_dir).resolve()
        self.transition_seconds = transition_seconds
        self.duplicate_events = duplicate_events
        self.handler_logs = handler_logs
        self.echo = echo or (lambda line: None)
        self.log = TwinLog()
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._busy = threading.Event()
        self._worker = threading.Thread(target=self._work, name="twin-event-bus", daemon=True)
        self._sink = _Sink(self)
        self._unsubscribe: Callable[[], None] | None = None
        self._saved_env: dict[str, str | None] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.aws.url

    @property
    def control_url(self) -> str:
        return self._sink.url

    def start(self) -> Twin:
        moto_fixes.behaviour.transition_seconds = self.transition_seconds
        self.aws.start()
        # moto's backends are per-process: a new twin starts from an empty account
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"))  # noqa: S310
        self._sink.start()
        self._set_env({**self.aws.environment(), "AWS_DEFAULT_REGION": REGION})
        from registry_workflow import aws
        from registry_workflow.validation import forget_champions

        aws.reset_clients()
        forget_champions()  # a new twin is a new account: ARNs repeat
        self._create_resources()
        if not self.handler_logs:
            from registry_workflow.observability import logger

            logger.setLevel("WARNING")  # the Logger may exist already, created at INFO
        self._unsubscribe = moto_fixes.subscribe(self._on_change)
        self._worker.start()
        return self

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self._queue.put(None)
        self._sink.stop()
        self.aws.stop()
        moto_fixes.behaviour.transition_seconds = None
        moto_fixes.behaviour.fail_next = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next_update(self, reason: str = "the twin was told to fail this update") -> None:
        moto_fixes.behaviour.fail_next = reason
        self.echo(f"switch  the next endpoint create/update will fail: {reason}")

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no event is queued or being handled (endpoint timers may still be pending)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.empty() and not self._busy.is_set():
                time.sleep(0.05)
                if self._queue.empty() and not self._busy.is_set():
                    return True
            time.sleep(0.02)
        return False

    # --- resources of template.yaml ---------------------------------------------------------------

    def _create_resources(self) -> None:
        import boto3

        raw = _raw_resources(self.template.path)
        session = boto3.session.Session()
        for logical_id, resource in raw.items():
            kind, props = resource["Type"], resource.get("Properties") or {}
            if kind == "AWS::DynamoDB::Table":
                _create_table(session.client("dynamodb"), logical_id, props)
            elif kind == "AWS::SNS::Topic":
                self._create_topic(session, logical_id)
            elif kind == "AWS::SQS::Queue":
                session.client("sqs").create_queue(QueueName=logical_id)
            elif kind == "AWS::SecretsManager::Secret":
                secret = json.dumps({"url": f"{self._sink.url}/slack"})
                session.client("secretsmanager").create_secret(Name=logical_id, SecretString=secret)

    def _create_topic(self, session: Any, logical_id: str) -> None:
        arn = session.client("sns").create_topic(Name=logical_id)["TopicArn"]
        self._sns_topics = [*getattr(self, "_sns_topics", []), arn]
        _tap_topic(self, arn)

    # --- the event bus ----------------------------------------------------------------------------

    def _on_change(self, kind: str, payload: dict[str, Any]) -> None:
        # called on moto's request thread: build the event now (state as of this change), queue it
        event = model_package_event(payload) if kind == "model_package" else endpoint_event(payload)
        self.log.events.append(event)
        self.log.queued_at[event["id"]] = time.monotonic()
        copies = 2 if self.duplicate_events else 1
        for _ in range(copies):
            self._queue.put(event)

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            self._busy.set()
            try:
                self.log.deliveries.append(event["id"])
                self.echo(describe_event(event))
                for rule in self.template.rules:
                    if pattern_matches(rule.pattern, event):
                        self._invoke(self.template.functions[rule.target], event)
            finally:
                self._busy.clear()

    def _invoke(self, function: FunctionSpec, event: dict[str, Any]) -> None:
        env = {**function.environment, "REGISTRY_CONFIG_DIR": str(self.config_dir)}
        if not self.handler_logs:
            # the twin's own log line per invocation says what happened; JSON logs and EMF on demand
            env |= {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
        self._set_env(env)
        handler = getattr(load_handler_module(function.module_path), function.function_name)
        started, error, result, attempts = time.monotonic(), None, None, 0
        while attempts <= ASYNC_RETRIES:
            attempts += 1
            try:
                result = handler(json.loads(json.dumps(event)), LambdaContext(function.logical_id))
                error = None
                break
            except Exception as exc:  # noqa: BLE001 - a handler error is an outcome, never a twin crash
                error = f"{type(exc).__name__}: {exc}"
        outcome = Outcome(
            event["id"],
            function.logical_id,
            error is None,
            attempts,
            time.monotonic() - started,
            result,
            error,
            queued_at=self.log.queued_at.get(event["id"]),
            started_at=started,
        )
        self.log.outcomes.append(outcome)
        if error is None:
            self.echo(f"  → {function.logical_id}: ok ({outcome.seconds * 1000:.0f} ms){_summary(result)}")
        else:
            self.echo(f"  → {function.logical_id}: FAILED after {attempts} attempts: {error}")
            self._dead_letter(function, event, error)

    def _dead_letter(self, function: FunctionSpec, event: dict[str, Any], error: str) -> None:
        import boto3

        queue_id = f"{function.logical_id.removesuffix('Function')}DLQ"
        sqs = boto3.session.Session().client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=queue_id)["QueueUrl"]
        except Exception:  # noqa: BLE001 - no queue for this function: the outcome log still has it
            return
        body = {
            "requestContext": {"condition": "RetriesExhausted", "functionArn": function.logical_id},
            "responseContext": {"functionError": error},
            "requestPayload": event,
        }
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value


# --- events in AWS's shape --------------------------------------------------------------------------


def model_package_event(payload: dict[str, Any]) -> dict[str, Any]:
    """The "SageMaker Model Package State Change" event AWS would emit for this package now."""
    package = payload["package"]
    described = package.gen_response_object()
    detail = {key: _jsonable(value) for key, value in described.items()}
    detail["ModelPackageGroupName"] = package.model_package_group_name
    detail["ModelPackageVersion"] = package.model_package_version
    if payload.get("updated_fields"):
        detail["UpdatedModelPackageFields"] = payload["updated_fields"]
    return _envelope(MODEL_PACKAGE_STATE_CHANGE, package.arn, detail, payload)


def endpoint_event(payload: dict[str, Any]) -> dict[str, Any]:
    """The "SageMaker Endpoint State Change" event: status in EventBridge's spelling, epoch-ms times."""
    endpoint = payload["endpoint"]
    detail = {
        "EndpointName": endpoint.endpoint_name,
        "EndpointArn": endpoint.arn,
        "EndpointConfigName": endpoint.endpoint_config_name,
        "ProductionVariants": _jsonable(endpoint.production_variants),
        "EndpointStatus": to_event_spelling(endpoint.endpoint_status),
        "CreationTime": int(endpoint.creation_time.timestamp() * 1000)
        if hasattr(endpoint.creation_time, "timestamp")
        else None,
        "LastModifiedTime": int(time.time() * 1000),
        "Tags": {t["Key"]: t["Value"] for t in endpoint.tags or []},
    }
    return _envelope(ENDPOINT_STATE_CHANGE, endpoint.arn, detail, payload)


def _envelope(detail_type: str, resource: str, detail: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.sagemaker",
        "account": payload.get("account", ACCOUNT),
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": payload.get("region", REGION),
        "resources": [resource],
        "detail": detail,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def describe_event(event: dict[str, Any]) -> str:
    detail = event["detail"]
    if event["detail-type"] == MODEL_PACKAGE_STATE_CHANGE:
        fields = ",".join(detail.get("UpdatedModelPackageFields") or ["created"])
        return (
            f"event   model package {detail['ModelPackageGroupName']}/{detail['ModelPackageVersion']} "
            f"{detail.get('ModelApprovalStatus')} [{fields}]"
        )
    name, status, config = detail["EndpointName"], detail["EndpointStatus"], detail.get("EndpointConfigName")
    return f"event   endpoint {name} {status} ({config})"


def _summary(result: Any) -> str:
    if isinstance(result, dict):
        interesting = {k: v for k, v in result.items() if k in {"action", "status", "summary", "outcome"}}
        if interesting:
            return " " + json.dumps(interesting, default=str)
    return ""


# --- helpers for template resources ------------------------------------------------------------------


def _raw_resources(path: Path) -> dict[str, Any]:
    import yaml

    from registry_workflow.local.template import _CfnLoader

    return dict(yaml.load(path.read_text(), Loader=_CfnLoader).get("Resources", {}))  # noqa: S506


def _create_table(dynamodb: Any, name: str, props: dict[str, Any]) -> None:
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {k: v for k, v in index.items() if k != "ProvisionedThroughput"}
            for index in props["GlobalSecondaryIndexes"]
        ]
    dynamodb.create_table(**request)


def _tap_topic(twin: Twin, topic_arn: str) -> None:
    """Print what reaches an SNS topic: moto delivers to an SQS queue, a thread reads it."""
    import boto3

    session = boto3.session.Session()
    sqs, sns = session.client("sqs"), session.client("sns")
    name = "twin-tap-" + topic_arn.rsplit(":", 1)[1]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})

    def read() -> None:
        while True:
            try:
                messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
            except Exception:  # noqa: BLE001 - the server is stopping
                return
            for message in messages.get("Messages", []):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                try:
                    body = json.loads(message["Body"])
                except ValueError:
                    body = {"text": message["Body"]}
                twin.log.sns.append(body)
                title = (body.get("content") or {}).get("title") or body.get("text") or message["Body"][:120]
                twin.echo(f"  ✉ sns    {title}")

    threading.Thread(target=read, name=f"twin-{name}", daemon=True).start()


class _Sink:
    """A local Slack webhook that prints what it gets, plus the twin's control switches."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.server = ThreadingHTTPServer((HOST, 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_port}"

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, name="twin-sink", daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        twin = self.twin

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                if self.path == "/slack":
                    payload = json.loads(body or "{}")
                    twin.log.slack.append(payload)
                    twin.echo(f"  ✉ slack  {payload.get('text', '')}")
                    self._reply(200, "ok")
                elif self.path == "/twin/fail-next-update":
                    twin.fail_next_update(body or "the twin was told to fail this update")
                    self._reply(200, "ok")
                elif self.path == "/twin/duplicate-events":
                    twin.duplicate_events = body.strip().lower() in {"", "1", "true", "on"}
                    twin.echo(f"switch  every event arrives twice: {twin.duplicate_events}")
                    self._reply(200, "ok")
                else:
                    self._reply(404, "no such route")

            def do_GET(self) -> None:
                if self.path == "/twin/log":
                    log = {
                        "events": twin.log.events,
                        "deliveries": twin.log.deliveries,
                        "outcomes": [o.__dict__ for o in twin.log.outcomes],
                        "slack": twin.log.slack,
                        "sns": twin.log.sns,
                    }
                    self._reply(200, json.dumps(log, default=str), "application/json")
                elif self.path == "/twin/idle":
                    self._reply(200, json.dumps({"idle": twin.wait_idle(10)}), "application/json")
                else:
                    self._reply(404, "no such route")

            def _reply(self, status: int, text: str, content_type: str = "text/plain") -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
