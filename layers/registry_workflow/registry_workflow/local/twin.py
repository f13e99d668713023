"""The offline twin of AWS: moto + the project's fixes + the events AWS would emit + the template's wiring.

After every SageMaker change AWS would announce, the twin builds the EventBridge event AWS would
emit, matches it against the rules read from `template.yaml` (moto's matcher), and invokes the
target function the way Lambda's asynchronous invocation would: the function's own `app.py`, in
its own execution environments (processes with the environment the template gives it, started on
demand and kept warm, as many at once as its reserved concurrency or the twin's `concurrency`
allows), with up to two retries, then the function's on-failure queue. Any client counts: boto3,
the aws CLI, the SageMaker SDK. The twin lives in one region, like a stack: `--region`, else
`AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from registry_workflow.config import load_config
from registry_workflow.errors import ConfigError, RegistryWorkflowError
from registry_workflow.events import (
    ENDPOINT_STATE_CHANGE,
    MODEL_PACKAGE_STATE_CHANGE,
    epoch_millis,
    event_time,
    to_event_spelling,
)
from registry_workflow.local import botocore_models, moto_fixes
from registry_workflow.local.lambda_runtime import (
    ExecutionEnvironment,
    FunctionRuntime,
    Invocation,
    LambdaContext,
    function_arn_of,
)
from registry_workflow.local.server import DEFAULT_PORT, HOST, SHUTDOWN_POLL_SECONDS, LocalAws
from registry_workflow.local.template import (
    ACCOUNT,
    DEFAULT_REGION,
    FunctionSpec,
    Template,
    load_template,
    pattern_matches,
    read_template,
)

__all__ = ["LambdaContext", "Outcome", "Twin", "TwinLog", "endpoint_event", "model_package_event", "twin_region"]

ASYNC_RETRIES = 2  # Lambda's asynchronous invocation retries an error twice
#: Lambda waits 1 minute, then 2, between attempts; the twin waits as many seconds
RETRY_DELAYS = (1.0, 2.0)
#: execution environments per function when the template reserves no concurrency
DEFAULT_CONCURRENCY = 10
#: Lambda's default timeout, for a function the template gives none
DEFAULT_TIMEOUT_SECONDS = 3.0
#: how model-package events carry CreationTime / LastModifiedTime: real captures show epoch
#: milliseconds, AWS's documentation ISO-8601 strings; the handlers must take both
TIMESTAMP_SHAPES = ("epoch-ms", "iso")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
REPO = Path(__file__).resolve().parents[4]


def twin_region(explicit: str | None = None) -> str:
    """The twin's region: `explicit` (--region), else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1."""
    region = explicit or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    if not _REGION.match(region):
        raise RegistryWorkflowError(f"not an AWS region name: {region!r} (e.g. us-east-1, ap-northeast-1)")
    return region


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
    #: pid of the execution environment that ran the last attempt
    environment: int | None = None


@dataclass
class TwinLog:
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)  # event ids, once per delivery
    outcomes: list[Outcome] = field(default_factory=list)
    slack: list[dict[str, Any]] = field(default_factory=list)
    #: Slack Web API calls the functions made ({"method": "views.open", "body": {...}}) and posts to
    #: an interaction's response_url ({"path": ..., "body": {...}}): the Slack stand-in's record
    slack_api: list[dict[str, Any]] = field(default_factory=list)
    slack_responses: list[dict[str, Any]] = field(default_factory=list)
    sns: list[dict[str, Any]] = field(default_factory=list)
    queued_at: dict[str, float] = field(default_factory=dict)  # event id → time.monotonic() when queued


class Twin:
    """Start with `start()`; `url` is the AWS endpoint, `control_url` the twin's own switches."""

    def __init__(
        self,
        *,
        port: int = DEFAULT_PORT,
        template_path: str | Path = REPO / "template.yaml",
        config_dir: str | Path = REPO / "config",
        transition_seconds: float = 1.0,
        duplicate_events: bool = False,
        handler_logs: bool = False,
        echo: Callable[[str], None] | None = None,
        region: str | None = None,
        timestamps: str = "epoch-ms",
        concurrency: int = DEFAULT_CONCURRENCY,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        if timestamps not in TIMESTAMP_SHAPES:
            raise RegistryWorkflowError(f"timestamps must be one of {', '.join(TIMESTAMP_SHAPES)}, not {timestamps!r}")
        if concurrency < 1:
            raise RegistryWorkflowError(f"concurrency must be at least 1, not {concurrency}")
        self.region = twin_region(region)
        self.timestamps = timestamps
        self.concurrency = concurrency
        self.retry_delays = retry_delays
        self.aws = LocalAws(port)
        # parameters without a default that AWS gets from the operator (moto accepts any role), and
        # the ones `make deploy` derives from the config
        local_role = f"arn:aws:iam::{ACCOUNT}:role/registry-workflow-local"
        local_parameters = {"SageMakerExecutionRoleArn": local_role, **_parameters_from_config(Path(config_dir))}
        self.template: Template = load_template(template_path, local_parameters, region=self.region)
        self._lambda_settings = _lambda_settings(self.template.path)
        self._queue_sources = _queue_sources(self.template.path)
        for path, logical_id in FUNCTION_URLS.items():
            if logical_id in self.template.functions:
                self.aws.routes[path] = self._function_url(self.template.functions[logical_id])
        self.config_dir = Path(config_dir).resolve()
        self.transition_seconds = transition_seconds
        self.duplicate_events = duplicate_events
        self.handler_logs = handler_logs
        self._echo = echo or (lambda line: None)
        self._echo_lock = threading.Lock()
        self.log = TwinLog()
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._bus = threading.Thread(target=self._work, name="twin-event-bus", daemon=True)
        self._functions: dict[str, _FunctionPool] = {}
        self._functions_lock = threading.Lock()
        # deliveries on the bus + invocations not finished (retries included): 0 means idle
        self._in_flight = 0
        self._idle = threading.Condition()
        self._stopping = threading.Event()
        self._sink = _Sink(self)
        #: the signing secret of the twin's Slack app: sign interactivity requests with it (`sign_slack`)
        self.slack_signing_secret = uuid.uuid4().hex
        self._unsubscribe: Callable[[], None] | None = None
        self._saved_env: dict[str, str | None] = {}
        self._started: list[str] = []
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.aws.url

    @property
    def control_url(self) -> str:
        return self._sink.url

    def start(self) -> Twin:
        """Start moto, the resources, the sink and the bus; a failure (or Ctrl-C) half-way stops what started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        botocore_models.install()  # this process's clients (the twin's, a demo's, a test's) read each model once
        moto_fixes.behaviour.transition_seconds = self.transition_seconds
        self.aws.start()
        self._started.append("aws")
        # moto's backends are per-process: a new twin starts from an empty account
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"))  # noqa: S310
        self._sink.start()
        self._started.append("sink")
        # this process's own clients (the demo, tests, the bench) talk to the twin, in its region
        self._set_env(self.client_environment())
        from registry_workflow import aws
        from registry_workflow.validation import forget_champions

        aws.reset_clients()
        forget_champions()  # a new twin is a new account: ARNs repeat
        self._create_resources()
        if not self.handler_logs:
            from registry_workflow.observability import logger

            logger.setLevel("WARNING")  # the Logger may exist already, created at INFO
        self._unsubscribe = moto_fixes.subscribe(self._on_change)
        self._bus.start()
        self._started.append("bus")
        threading.Thread(target=self._fire_on_schedule, name="twin-schedules", daemon=True).start()
        for source in self._queue_sources:
            if source.function in self.template.functions:
                threading.Thread(
                    target=self._poll, args=(source,), name=f"twin-sqs-{source.queue}", daemon=True
                ).start()

    def client_environment(self) -> dict[str, str]:
        """What a client (and each function) needs to reach this twin, in its region."""
        return {**self.aws.environment(), "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}

    def stop(self) -> None:
        """Stop everything, execution environments included; safe to call twice or after a failed start."""
        self._stopping.set()
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        if "bus" in self._started:
            self._queue.put(None)
        with self._functions_lock:
            pools, self._functions = list(self._functions.values()), {}
        for pool in pools:
            pool.stop()
        if "sink" in self._started:
            self._sink.stop()
        if "aws" in self._started:
            self.aws.stop()
        self._started.clear()
        moto_fixes.behaviour.transition_seconds = None
        moto_fixes.behaviour.fail_next = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        with self._idle:
            self._idle.notify_all()

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def echo(self, line: str) -> None:
        """One whole line at a time: deliveries print from many threads."""
        with self._echo_lock:
            self._echo(line)

    def fail_next_update(self, reason: str = "the twin was told to fail this update") -> None:
        moto_fixes.behaviour.fail_next = reason
        self.echo(f"switch  the next endpoint create/update will fail: {reason}")

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no event is queued and no invocation (or retry) is pending; endpoint timers may be."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0 or self._stopping.is_set(), timeout)

    def environments(self) -> dict[str, list[int]]:
        """The pids of each function's live execution environments."""
        with self._functions_lock:
            pools = dict(self._functions)
        return {name: pool.pids() for name, pool in pools.items()}

    # --- resources of template.yaml ---------------------------------------------------------------

    def _client(self, service: str) -> Any:
        """This twin's own client for `service` (one session, one client per service: building them is slow)."""
        with self._clients_lock:
            client = self._clients.get(service)
            if client is None:
                import boto3

                if self._session is None:
                    self._session = boto3.session.Session()
                client = self._session.client(service, endpoint_url=self.url, region_name=self.region)
                self._clients[service] = client
            return client

    def _create_resources(self) -> None:
        raw = _raw_resources(self.template.path)
        for logical_id, resource in raw.items():
            if not isinstance(resource, dict):  # Fn::ForEach and friends: nothing the twin creates
                continue
            kind, props = resource["Type"], resource.get("Properties") or {}
            if kind == "AWS::DynamoDB::Table":
                _create_table(self._client("dynamodb"), logical_id, props)
            elif kind == "AWS::SNS::Topic":
                self._create_topic(logical_id)
            elif kind == "AWS::SQS::Queue":
                self._client("sqs").create_queue(QueueName=logical_id)
            elif kind == "AWS::SecretsManager::Secret":
                secret = json.dumps(self._secret_value(logical_id))
                self._client("secretsmanager").create_secret(Name=logical_id, SecretString=secret)

    def _secret_value(self, logical_id: str) -> dict[str, str]:
        """The Slack app's secrets as the twin's Slack stand-in knows them; any other secret is the webhook's."""
        if logical_id == SIGNING_SECRET:
            return {"signing_secret": self.slack_signing_secret}
        if logical_id == BOT_TOKEN_SECRET:
            return {"token": TWIN_BOT_TOKEN}
        return {"url": f"{self._sink.url}/slack"}

    def _create_topic(self, logical_id: str) -> None:
        arn = self._client("sns").create_topic(Name=logical_id)["TopicArn"]
        self._sns_topics = [*getattr(self, "_sns_topics", []), arn]
        _tap_topic(self, arn)

    # --- the event bus ----------------------------------------------------------------------------

    def _on_change(self, kind: str, payload: dict[str, Any]) -> None:
        # called on moto's request thread: build the event now (state as of this change), queue it
        region = payload.get("region", self.region)
        if region != self.region:
            # EventBridge is regional: the stack's rules see only their own region's events
            self.echo(f"event   in {region}: not delivered (the twin's stack is in {self.region})")
            return
        if kind == "model_package":
            event = model_package_event(payload, timestamps=self.timestamps)
        else:
            event = endpoint_event(payload)
        self.log.events.append(event)
        self.log.queued_at[event["id"]] = time.monotonic()
        copies = 2 if self.duplicate_events else 1
        self._begin(copies)
        for _ in range(copies):
            self._queue.put(event)

    def fire_schedules(self) -> list[str]:
        """Deliver every schedule's event of template.yaml now (the tracker's sweep); their ids."""
        fired = []
        for schedule in self.template.schedules:
            event = schedule.event(
                region=self.region,
                account=ACCOUNT,
                time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                event_id=str(uuid.uuid4()),
            )
            self.log.events.append(event)
            self.log.queued_at[event["id"]] = time.monotonic()
            self.echo(f"event   schedule {schedule.name} ({schedule.expression}) → {schedule.target}")
            self._begin(1)
            self._submit(self.template.functions[schedule.target], event, 1, None)
            fired.append(event["id"])
        return fired

    def _fire_on_schedule(self) -> None:
        """EventBridge fires each `rate(...)` schedule at its rate; so does the twin, while it runs."""
        periods = [p for p in (_rate_seconds(s.expression) for s in self.template.schedules) if p]
        if not periods:
            return
        period = min(periods)
        while not self._stopping.wait(period):
            self.fire_schedules()

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                if self._stopping.is_set():
                    continue
                self.log.deliveries.append(event["id"])
                self.echo(describe_event(event))
                for rule in self.template.rules:
                    if pattern_matches(rule.pattern, event):
                        self._begin(1)
                        self._submit(self.template.functions[rule.target], event, 1, None)
            finally:
                self._end()

    def _submit(self, function: FunctionSpec, event: dict[str, Any], attempt: int, first: float | None) -> None:
        """Hand one attempt to the function's environments (Lambda's async queue); never blocks the bus."""
        try:
            self._pool(function).executor.submit(self._attempt, function, event, attempt, first)
        except RuntimeError:  # the twin is stopping: the pool takes no more work
            self._end()

    def _attempt(self, function: FunctionSpec, event: dict[str, Any], attempt: int, first: float | None) -> None:
        try:
            if self._stopping.is_set():
                return
            started = time.monotonic()
            first = first or started
            invocation = self._pool(function).invoke(event)
            if self._stopping.is_set():
                return
            if not invocation.ok and attempt <= ASYNC_RETRIES:
                delay = self.retry_delays[min(attempt, len(self.retry_delays)) - 1] if self.retry_delays else 0.0
                self.echo(
                    f"  ↻ {function.logical_id} {_label(event)}: attempt {attempt} failed: {invocation.error}; "
                    f"retry in {delay:g} s"
                )
                self._begin(1)  # the retry is in flight until it has run
                timer = threading.Timer(delay, self._submit, (function, event, attempt + 1, first))
                timer.daemon = True
                timer.start()
                return
            self._record(function, event, invocation, attempt, first)
        except Exception as exc:  # noqa: BLE001 - the twin's own fault must never wedge wait_idle
            if not self._stopping.is_set():  # stopping refuses new environments: not worth a line
                self.echo(f"  ! twin error invoking {function.logical_id}: {type(exc).__name__}: {exc}")
        finally:
            self._end()

    def _record(
        self, function: FunctionSpec, event: dict[str, Any], invocation: Invocation, attempts: int, first: float
    ) -> None:
        outcome = Outcome(
            event["id"],
            function.logical_id,
            invocation.ok,
            attempts,
            time.monotonic() - first,
            invocation.result,
            invocation.error,
            queued_at=self.log.queued_at.get(event["id"]),
            started_at=first,
            environment=invocation.pid,
        )
        self.log.outcomes.append(outcome)
        where = f"{function.logical_id} {_label(event)}"
        if invocation.ok:
            self.echo(f"  → {where}: ok ({outcome.seconds * 1000:.0f} ms){_summary(invocation.result)}")
        else:
            self.echo(f"  → {where}: FAILED after {attempts} attempts: {invocation.error}")
            self._dead_letter(function, event, invocation.error or "")

    def _pool(self, function: FunctionSpec) -> _FunctionPool:
        with self._functions_lock:
            pool = self._functions.get(function.logical_id)
            if pool is None:
                if self._stopping.is_set():
                    raise RuntimeError("the twin is stopping")
                pool = _FunctionPool(self._runtime(function), self._concurrency_of(function))
                self._functions[function.logical_id] = pool
            return pool

    def _runtime(self, function: FunctionSpec) -> FunctionRuntime:
        """The function as Lambda would run it here: its template environment plus Lambda's own variables."""
        settings = self._lambda_settings.get(function.logical_id, {})
        timeout = float(settings.get("Timeout") or DEFAULT_TIMEOUT_SECONDS)
        memory = int(settings.get("MemorySize") or 128)
        env = {
            **function.environment,
            **self.client_environment(),
            **self._execution_role(function.logical_id),
            "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "REGISTRY_CONFIG_DIR": str(self.config_dir),
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }
        if "SLACK_API_URL" in env:
            env["SLACK_API_URL"] = f"{self._sink.url}/slack-api/"  # Slack's Web API: the stand-in
        if not self.handler_logs:
            # the twin's own log line per invocation says what happened; JSON logs and EMF on demand
            env |= {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}
        return FunctionRuntime(
            name=function.logical_id,
            module_path=function.module_path,
            handler=function.function_name,
            environment=env,
            function_arn=function_arn_of(function.logical_id, self.region),
            timeout_seconds=timeout,
            memory_mb=memory,
        )

    def _execution_role(self, logical_id: str) -> dict[str, str]:
        """Credentials of the function's own role, as Lambda gives a function its execution role's.

        The role is named as `!Ref <Function>Role` reads on the twin (SAM's generated role), so
        what the function does is recorded as `assumed-role/<Function>Role/<function>`, and the
        gate tells the workflow's own changes (WORKFLOW_ROLES) from people's.
        """
        role_name = f"{logical_id}Role"
        iam = self._client("iam")
        trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'  # noqa: E501
        try:
            arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        except iam.exceptions.EntityAlreadyExistsException:
            arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        credentials = self._client("sts").assume_role(RoleArn=arn, RoleSessionName=logical_id)["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }

    def _concurrency_of(self, function: FunctionSpec) -> int:
        reserved = self._lambda_settings.get(function.logical_id, {}).get("ReservedConcurrentExecutions")
        return int(reserved) if isinstance(reserved, int) and reserved > 0 else self.concurrency

    def _begin(self, count: int) -> None:
        with self._idle:
            self._in_flight += count

    def _end(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight <= 0:
                self._idle.notify_all()

    def _dead_letter(self, function: FunctionSpec, event: dict[str, Any], error: str) -> None:
        queue_id = f"{function.logical_id.removesuffix('Function')}DLQ"
        sqs = self._client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=queue_id)["QueueUrl"]
        except Exception:  # noqa: BLE001 - no queue for this function: the outcome log still has it
            return
        body = {
            "requestContext": {
                "condition": "RetriesExhausted",
                "functionArn": function_arn_of(function.logical_id, self.region),
            },
            "responseContext": {"functionError": error},
            "requestPayload": event,
        }
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))

    # --- function URLs and queue event sources ------------------------------------------------------

    def _function_url(self, function: FunctionSpec) -> Any:
        """A route answering as the function's URL does: the request as a payload-2.0 event, invoked at once."""

        def route(method: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
            if self._stopping.is_set():
                return 503, {"Content-Type": "text/plain"}, b"the twin is stopping"
            event = function_url_event(method, headers, body, region=self.region)
            self._begin(1)
            try:
                invocation = self._pool(function).invoke(event)
            except RuntimeError:
                return 503, {"Content-Type": "text/plain"}, b"the twin is stopping"
            finally:
                self._end()
            if not invocation.ok or not isinstance(invocation.result, dict):
                self.echo(f"  → {function.logical_id} url: FAILED: {invocation.error}")
                return 502, {"Content-Type": "application/json"}, b'{"Message":"Internal Server Error"}'
            result = invocation.result
            status = int(result.get("statusCode", 200))
            self.echo(f"  → {function.logical_id} url: HTTP {status}")
            raw = result.get("body") or ""
            data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
            return status, {str(k): str(v) for k, v in (result.get("headers") or {}).items()}, data

        return route

    def _poll(self, source: QueueSource) -> None:
        """Lambda's SQS event source: batches in, failed records back to the queue, then to its DLQ."""
        sqs = self._client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        except Exception:  # noqa: BLE001 - no such queue on the twin: nothing to poll
            return
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{source.queue}"
        function = self.template.functions[source.function]
        while not self._stopping.is_set():
            try:
                got = sqs.receive_message(
                    QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=source.batch_size,
                    AttributeNames=["All"],
                )  # fmt: skip
            except Exception:  # noqa: BLE001 - the server is stopping
                return
            messages = got.get("Messages", [])
            if not messages:
                continue
            self._begin(1)
            try:
                self._deliver_batch(sqs, url, arn, function, source, messages)
            except Exception as exc:  # noqa: BLE001 - the twin's own fault must never wedge wait_idle
                if not self._stopping.is_set():
                    self.echo(f"  ! twin error polling {source.queue}: {type(exc).__name__}: {exc}")
            finally:
                self._end()

    def _deliver_batch(
        self, sqs: Any, url: str, arn: str, function: FunctionSpec, source: QueueSource, messages: list[dict[str, Any]]
    ) -> None:
        event = {"Records": [sqs_record(m, arn, self.region) for m in messages]}
        invocation = self._pool(function).invoke(event)
        if invocation.ok and isinstance(invocation.result, dict):
            failed = {f.get("itemIdentifier") for f in invocation.result.get("batchItemFailures") or []}
        else:
            failed = {m["MessageId"] for m in messages}
        self.echo(
            f"  → {function.logical_id} sqs {source.queue}: {len(messages) - len(failed)} ok"
            + (f", {len(failed)} failed: {invocation.error or 'batchItemFailures'}" if failed else "")
        )
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                continue
            received = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
            if source.dead_letter and received >= source.max_receive_count:
                dlq = sqs.get_queue_url(QueueName=source.dead_letter)["QueueUrl"]
                sqs.send_message(QueueUrl=dlq, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:  # back to the queue after a short wait (SQS waits the visibility timeout)
                delay = int(self.retry_delays[0]) if self.retry_delays else 0
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=delay
                )

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value


class _FunctionPool:
    """One function's execution environments: at most `concurrency` busy at once, started on demand, kept warm."""

    def __init__(self, runtime: FunctionRuntime, concurrency: int) -> None:
        self.runtime = runtime
        self.concurrency = concurrency
        # one thread per concurrent invocation: the thread waits, the environment (a process) works
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"twin-{runtime.name}")
        self._idle: list[ExecutionEnvironment] = []
        self._all: list[ExecutionEnvironment] = []
        self._lock = threading.Lock()
        self._closed = False

    def invoke(self, event: dict[str, Any]) -> Invocation:
        environment = self._take()
        try:
            return environment.invoke(event)
        finally:
            self._give_back(environment)

    def pids(self) -> list[int]:
        with self._lock:
            return [e.pid for e in self._all if e.pid is not None]

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            environments, self._all, self._idle = list(self._all), [], []
        self.executor.shutdown(wait=False, cancel_futures=True)
        for environment in environments:
            environment.stop()  # a thread waiting on it gets EOF and returns

    def _take(self) -> ExecutionEnvironment:
        with self._lock:
            if self._closed:
                raise RuntimeError("the twin is stopping")
            if self._idle:
                return self._idle.pop()
        environment = ExecutionEnvironment(self.runtime)  # a cold start, outside the lock
        with self._lock:
            if not self._closed:
                self._all.append(environment)
                return environment
        environment.stop()
        raise RuntimeError("the twin is stopping")

    def _give_back(self, environment: ExecutionEnvironment) -> None:
        with self._lock:
            if self._closed:
                return
            if environment.alive:
                self._idle.append(environment)
            elif environment in self._all:
                self._all.remove(environment)


# --- function URLs, Slack and SQS in AWS's shape ------------------------------------------------------

#: paths the twin serves on its own port, and the function behind each (README, "Approving in Slack")
FUNCTION_URLS = {"/slack/interactivity": "SlackApprovalsFunction"}
SIGNING_SECRET, BOT_TOKEN_SECRET = "SlackSigningSecret", "SlackBotTokenSecret"
TWIN_BOT_TOKEN = "xoxb-registry-workflow-twin"
#: content types a function URL passes as text; anything else arrives base64-encoded
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


@dataclass(frozen=True)
class QueueSource:
    """A function's `Type: SQS` event: the queue it consumes, and where failed messages end."""

    function: str
    queue: str
    batch_size: int = 10
    dead_letter: str | None = None
    max_receive_count: int = 5


def function_url_event(method: str, headers: dict[str, str], body: bytes, *, region: str) -> dict[str, Any]:
    """The payload-2.0 event a Lambda function URL gives its function for one request."""
    content_type = headers.get("content-type", "")
    text = content_type.startswith(_TEXT_TYPES)
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "twin",
            "domainName": f"twin.lambda-url.{region}.on.aws",
            "http": {
                "method": method,
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": HOST,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": epoch_millis(now),
        },
        "body": body.decode("utf-8", "replace") if text else base64.b64encode(body).decode(),
        "isBase64Encoded": not text,
    }


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the SQS event Lambda's event source mapping delivers."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes") or {},
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sign_slack(signing_secret: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: its timestamp and v0 signature (slack_sdk's own signer)."""
    from slack_sdk.signature import SignatureVerifier

    sent = str(int(time.time()) if timestamp is None else timestamp)
    text = body.decode() if isinstance(body, bytes) else body
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=sent, body=text) or ""
    return {"X-Slack-Request-Timestamp": sent, "X-Slack-Signature": signature}


# --- events in AWS's shape --------------------------------------------------------------------------


def model_package_event(payload: dict[str, Any], *, timestamps: str = "epoch-ms") -> dict[str, Any]:
    """The "SageMaker Model Package State Change" event AWS would emit for this package now.

    `timestamps` is the shape of CreationTime / LastModifiedTime: "epoch-ms" (as real accounts send
    them) or "iso" (as AWS's documentation shows them).
    """
    package = payload["package"]
    described = package.gen_response_object()
    detail = {key: _jsonable(value) for key, value in described.items()}
    for key in ("CreationTime", "LastModifiedTime"):
        moment = described.get(key)
        if isinstance(moment, datetime):
            millis = epoch_millis(moment)
            detail[key] = millis if timestamps == "epoch-ms" else event_time(millis)
    detail["ModelPackageGroupName"] = package.model_package_group_name
    detail["ModelPackageVersion"] = package.model_package_version
    if payload.get("updated_fields"):
        detail["UpdatedModelPackageFields"] = payload["updated_fields"]
    return _envelope(MODEL_PACKAGE_STATE_CHANGE, package.arn, detail, payload)


def endpoint_event(payload: dict[str, Any]) -> dict[str, Any]:
    """The "SageMaker Endpoint State Change" event: status in EventBridge's spelling, epoch-ms times."""
    endpoint = payload["endpoint"]
    modified = getattr(endpoint, "last_modified_time", None)
    detail = {
        "EndpointName": endpoint.endpoint_name,
        "EndpointArn": endpoint.arn,
        "EndpointConfigName": endpoint.endpoint_config_name,
        "ProductionVariants": _jsonable(endpoint.production_variants),
        "EndpointStatus": to_event_spelling(endpoint.endpoint_status),
        "CreationTime": epoch_millis(endpoint.creation_time) if isinstance(endpoint.creation_time, datetime) else None,
        "LastModifiedTime": epoch_millis(modified if isinstance(modified, datetime) else datetime.now(UTC)),
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
        "region": payload.get("region", DEFAULT_REGION),
        "resources": [resource],
        "detail": detail,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # moto's times are naive UTC, not local time
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _parameters_from_config(config_dir: Path) -> dict[str, str]:
    """ManagedTeams and GuardedStages as `make deploy` passes them: from the config the stack ships.

    A config that does not load keeps the template's defaults: the provisioner then says what is
    wrong with it, as on AWS.
    """
    try:
        config = load_config(config_dir)
    except ConfigError:
        return {}
    parameters = {"GuardedStages": config.guarded_stages_parameter}
    if config.teams:
        parameters["ManagedTeams"] = ",".join(config.teams)
    return parameters


def _rate_seconds(expression: str) -> float | None:
    """`rate(5 minutes)` → 300.0; a `cron(...)` expression (not fired by the twin) → None."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if match is None:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return float(match.group(1)) * unit


def describe_event(event: dict[str, Any]) -> str:
    detail = event["detail"]
    if event["detail-type"] == MODEL_PACKAGE_STATE_CHANGE:
        fields = ",".join(detail.get("UpdatedModelPackageFields") or ["created"])
        return f"event   model package {_label(event)} [{fields}]"
    return f"event   endpoint {_label(event)} ({detail.get('EndpointConfigName')})"


def _label(event: dict[str, Any]) -> str:
    """Which event a log line is about, short: deliveries run concurrently, so lines interleave."""
    detail = event["detail"]
    if event["detail-type"] == "Scheduled Event":
        return f"schedule {event['resources'][0].rsplit('/', 1)[-1]}"
    if event["detail-type"] == MODEL_PACKAGE_STATE_CHANGE:
        group, version = detail.get("ModelPackageGroupName"), detail.get("ModelPackageVersion")
        return f"{group}/{version} {detail.get('ModelApprovalStatus')}"
    return f"{detail.get('EndpointName')} {detail.get('EndpointStatus')}"


def _summary(result: Any) -> str:
    if isinstance(result, dict):
        interesting = {k: v for k, v in result.items() if k in {"action", "status", "summary", "outcome"}}
        if interesting:
            return " " + json.dumps(interesting, default=str)
    return ""


def _lambda_settings(path: Path) -> dict[str, dict[str, Any]]:
    """Per function: Timeout, MemorySize, ReservedConcurrentExecutions (Globals merged) as plain values."""
    raw = read_template(path)
    defaults = ((raw.get("Globals") or {}).get("Function")) or {}
    settings: dict[str, dict[str, Any]] = {}
    for logical_id, resource in (raw.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **(resource.get("Properties") or {})}
        keys = ("Timeout", "MemorySize", "ReservedConcurrentExecutions")
        # a value given by an intrinsic (!Ref, !If) is not resolved here: the twin's default applies
        settings[logical_id] = {k: props[k] for k in keys if isinstance(props.get(k), int)}
    return settings


# --- helpers for template resources ------------------------------------------------------------------


def _queue_sources(path: Path) -> list[QueueSource]:
    """Every function's `Type: SQS` events, with the queue's RedrivePolicy (dead-letter queue, receive count)."""
    resources = _raw_resources(path)
    sources = []
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") != "SQS":
                continue
            props = event.get("Properties") or {}
            queue = _get_att_target(props.get("Queue"))
            if queue is None:
                continue
            redrive = ((resources.get(queue) or {}).get("Properties") or {}).get("RedrivePolicy") or {}
            sources.append(
                QueueSource(
                    logical_id,
                    queue,
                    int(props.get("BatchSize") or 10),
                    _get_att_target(redrive.get("deadLetterTargetArn")),
                    int(redrive.get("maxReceiveCount") or 5),
                )
            )
    return sources


def _get_att_target(value: Any) -> str | None:
    """`!GetAtt Queue.Arn` → "Queue"."""
    target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    return str(target[0]) if isinstance(target, list) and target else None


def _raw_resources(path: Path) -> dict[str, Any]:
    return dict(read_template(path).get("Resources", {}))


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
    sqs, sns = twin._client("sqs"), twin._client("sns")
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
        threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name="twin-sink",
            daemon=True,
        ).start()

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
                elif self.path.startswith("/slack-api/"):
                    self._slack_api(self.path.removeprefix("/slack-api/"), body)
                elif self.path.startswith("/slack-response/"):
                    payload = json.loads(body or "{}")
                    twin.log.slack_responses.append({"path": self.path, "body": payload})
                    twin.echo(
                        f"  ✉ slack  reply {payload.get('response_type', 'in_channel')}: {payload.get('text', '')}"
                    )
                    self._reply(200, "ok")
                elif self.path == "/twin/fail-next-update":
                    twin.fail_next_update(body or "the twin was told to fail this update")
                    self._reply(200, "ok")
                elif self.path == "/twin/fire-schedules":
                    self._reply(200, json.dumps({"fired": twin.fire_schedules()}), "application/json")
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
                        "slack_api": twin.log.slack_api,
                        "slack_responses": twin.log.slack_responses,
                        "sns": twin.log.sns,
                        "environments": twin.environments(),
                    }
                    self._reply(200, json.dumps(log, default=str), "application/json")
                elif self.path == "/twin/idle":
                    self._reply(200, json.dumps({"idle": twin.wait_idle(10)}), "application/json")
                else:
                    self._reply(404, "no such route")

            def _slack_api(self, method: str, body: str) -> None:
                """Slack's Web API, as far as the workflow calls it: the bot token checked, the call recorded."""
                if self.headers.get("Authorization") != f"Bearer {TWIN_BOT_TOKEN}":
                    self._reply(200, json.dumps({"ok": False, "error": "invalid_auth"}), "application/json")
                    return
                if "json" in (self.headers.get("Content-Type") or ""):
                    payload = json.loads(body or "{}")
                else:
                    payload = {k: v[0] for k, v in parse_qs(body).items()}
                twin.log.slack_api.append({"method": method, "body": payload})
                twin.echo(f"  ✉ slack  {method}")
                answer: dict[str, Any] = {"ok": True}
                if method == "views.open":
                    answer["view"] = {"id": f"V{uuid.uuid4().hex[:10].upper()}", **(payload.get("view") or {})}
                elif method == "chat.update":
                    answer |= {"channel": payload.get("channel"), "ts": payload.get("ts")}
                self._reply(200, json.dumps(answer), "application/json")

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
