"""Approve and reject from Slack: the interactivity endpoint (a Lambda function URL) and its worker.

Slack posts every click to the function URL (`handle_request`). Each request is checked before
anything else: size (at most `MAX_BODY_BYTES`), then the signature with slack_sdk's
`SignatureVerifier` (signing secret from Secrets Manager; a timestamp more than 5 minutes away is
refused), then the payload. Refusals answer 4xx with a log line and touch nothing in AWS.

* A click on Approve / Reject (`block_actions`) opens a modal asking for the reason (`views.open`,
  inside the request: its `trigger_id` lives 3 seconds). A click by someone who is not one of the
  team's `approval.slack_approvers` opens nothing: the worker tells them so and audits it.
* The modal's submit (`view_submission`) is put on the decision queue (SQS) and answered at once;
  Slack wants an answer within 3 seconds, and a queue with a dead-letter queue loses nothing.

The same function consumes the queue (`handle_queue`) and carries each decision out
(`carry_out`): the user is an approver of the team; the version is still pending; the four-eyes
rule where config ties the Slack user to IAM identities; the decision is claimed once per pending
state with a conditional write (`GateRecords.claim_chat_decision`: a second click, a replay or a
concurrent submit answers "already <status> by <who>"); then `UpdateModelPackage`, the original
message updated in place (`chat.update`, else the interaction's `response_url`), and an audit
entry for every decision, accepted or refused. The ordinary events do the rest: the deployer's gate
admits the approval on behalf of the Slack user the record names (`gate.judge_chat_approval`).
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.audit import AuditTrail
from registry_workflow.errors import RegistryWorkflowError
from registry_workflow.gate import PENDING, ChatDecision, GateRecords, decided_on, judge_chat_approval, moment
from registry_workflow.observability import logger, metrics

if TYPE_CHECKING:
    from registry_workflow.config import Project

#: action ids of the two buttons; their value is the version's package ARN and CreationTime
APPROVE_ACTION, REJECT_ACTION = "registry-workflow-approve", "registry-workflow-reject"
ACTIONS: dict[str, Literal["approve", "reject"]] = {APPROVE_ACTION: "approve", REJECT_ACTION: "reject"}
#: callback id of the reason modal, and where its reason input lives
MODAL_CALLBACK = "registry-workflow-decision"
REASON_BLOCK, REASON_INPUT = "reason", "reason-input"
#: Slack's interactivity payloads are small; anything bigger is not Slack
MAX_BODY_BYTES = 1024 * 1024
#: Slack refuses requests older than this (AWS-FACTS: 5 minutes), so do we
MAX_AGE_SECONDS = 5 * 60
#: SageMaker's ApprovalDescription limit; the modal's reason is shorter so the sentence fits
DESCRIPTION_MAX = 1024
REASON_MAX = 800

SIGNING_SECRET_ENV = "SLACK_SIGNING_SECRET_ID"
BOT_TOKEN_ENV = "SLACK_BOT_TOKEN_SECRET_ID"
QUEUE_ENV = "CHAT_DECISION_QUEUE_URL"
#: where slack_sdk's WebClient sends Web API calls (the twin points it at its Slack stand-in)
SLACK_API_ENV = "SLACK_API_URL"
SLACK_API_DEFAULT = "https://slack.com/api/"
SECRET_MAX_AGE_SECONDS = 300
#: how long one delivery owns applying a claimed decision; shorter than the queue's visibility
#: timeout (180 s), so the redelivery of a crashed attempt finds it free
LEASE_SECONDS = 60.0

VALUE_SEPARATOR = "#"

PAST = {"approve": "approved", "reject": "rejected"}
STATUS_OF = {"approve": "Approved", "reject": "Rejected"}


class BadRequest(RegistryWorkflowError):
    """A request refused at the door: HTTP `status`, and what the log says."""

    def __init__(self, status: int, problem: str) -> None:
        self.status, self.problem = status, problem
        super().__init__(problem)


# --- the buttons (notifications.py puts them on a validated version's message) ---------------------


def decision_buttons(package_arn: str, created: str | None = None) -> list[dict[str, Any]]:
    """The Approve and Reject buttons of a version's message (Block Kit `actions` elements).

    Their value names the version: its package ARN and its CreationTime (`button_value`). A group
    deleted and created again reuses its versions' ARNs: the time tells the new v1 from the old.
    """
    value = button_value(package_arn, created)
    return [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Approve"},
            "style": "primary",
            "action_id": APPROVE_ACTION,
            "value": value,
        },
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Reject"},
            "style": "danger",
            "action_id": REJECT_ACTION,
            "value": value,
        },
    ]


def button_value(package_arn: str, created: str | None) -> str:
    """`<package ARN>#<CreationTime>` (an ARN holds no `#`); the ARN alone when the time is unknown."""
    return f"{package_arn}{VALUE_SEPARATOR}{created}" if created else package_arn


def read_button_value(value: str) -> tuple[str, str]:
    """A button's value → (package ARN, CreationTime or ""): messages posted before the time was
    carried hold the ARN alone."""
    arn, _, created = value.partition(VALUE_SEPARATOR)
    return arn, created


# --- the endpoint ---------------------------------------------------------------------------------


@dataclass
class ChatApprovals:
    """The function's wiring: secrets, Slack's Web API, the queue, the stores, config and the clock."""

    signing_secret: Callable[[], str]
    slack: Callable[[], Any]  # a slack_sdk WebClient
    queue_url: str
    records: GateRecords | None = None
    trail: AuditTrail | None = None
    sagemaker: Any | None = None
    sqs: Any | None = None
    config: Callable[[], Any] | None = None
    clock: Callable[[], float] = time.time
    post_response: Callable[[str, dict[str, Any]], None] = field(default=lambda url, body: _post_response(url, body))

    @classmethod
    def from_env(cls) -> ChatApprovals:
        return cls(
            signing_secret=lambda: _secret_field(os.environ.get(SIGNING_SECRET_ENV, ""), "signing_secret"),
            slack=_web_client,
            queue_url=os.environ.get(QUEUE_ENV, ""),
        )

    # --- HTTP: the function URL --------------------------------------------------------------------

    def handle_request(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """A function URL event (payload format 2.0) → the HTTP answer Slack gets."""
        try:
            body, headers = _body_and_headers(event)
            self._verify(body, headers)
            payload = _payload(body)
            return self._route(payload)
        except BadRequest as exc:
            logger.warning("slack request refused", extra={"status": exc.status, "problem": exc.problem})
            metrics.add_metric(name="ChatRequestsRefused", unit="Count", value=1)
            return _answer(exc.status, {"error": exc.problem})

    def _verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        from slack_sdk.signature import SignatureVerifier

        timestamp, signature = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
        if not timestamp or not signature:
            raise BadRequest(401, "missing X-Slack-Signature or X-Slack-Request-Timestamp")
        try:
            sent = int(timestamp)
        except ValueError:
            raise BadRequest(401, "X-Slack-Request-Timestamp is not a number") from None
        if abs(self.clock() - sent) > MAX_AGE_SECONDS:
            raise BadRequest(401, "stale request: X-Slack-Request-Timestamp is more than 5 minutes away")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(400, "body is not UTF-8") from None
        verifier = SignatureVerifier(self.signing_secret(), clock=_clock(self.clock))
        if not verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
            raise BadRequest(401, "bad signature")

    def _route(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind = payload.get("type")
        if kind == "block_actions":
            return self._on_click(payload)
        if kind == "view_submission" and _dig(payload, "view", "callback_id") == MODAL_CALLBACK:
            return self._on_submit(payload)
        raise BadRequest(400, f"unsupported interaction: {str(kind)[:40]}")

    def _on_click(self, payload: dict[str, Any]) -> dict[str, Any]:
        actions = payload.get("actions")
        action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        decision = ACTIONS.get(str(action.get("action_id")))
        if decision is None:
            raise BadRequest(400, f"unknown action id: {str(action.get('action_id'))[:60]}")
        click = Click.of(payload, decision, str(action.get("value") or ""))
        project = self._project(click.package_arn)
        if not _is_approver(project, click.user):
            # no modal for someone who may not decide: the worker tells them and audits it
            self._enqueue(Job("not_an_approver", click))
            return _answer(200)
        trigger = payload.get("trigger_id")
        if not isinstance(trigger, str) or not trigger:
            raise BadRequest(400, "block_actions without a trigger_id")
        try:
            self.slack().views_open(trigger_id=trigger, view=reason_modal(click))
        except Exception as exc:  # noqa: BLE001 - slack_sdk's errors vary; their text holds no secret, the token is not logged
            logger.error("views.open failed", extra={"package_arn": click.package_arn, "error": type(exc).__name__})
            return _answer(502, {"error": "could not open the reason dialog"})
        logger.info("reason asked", extra={"package_arn": click.package_arn, "decision": decision, "user": click.user})
        return _answer(200)

    def _on_submit(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            meta = json.loads(str(_dig(payload, "view", "private_metadata") or ""))
            click = Click(**meta)
        except (ValueError, TypeError, RecursionError):
            raise BadRequest(400, "modal without its decision (private_metadata)") from None
        if click.decision not in PAST:
            raise BadRequest(400, "unknown decision in the modal")
        user = _dig(payload, "user", "id")
        if user != click.user:
            raise BadRequest(400, "the modal was submitted by someone else than who clicked")
        self._project(click.package_arn)
        reason = str(_dig(payload, "view", "state", "values", REASON_BLOCK, REASON_INPUT, "value") or "").strip()
        if not reason:
            return _answer(
                200, {"response_action": "errors", "errors": {REASON_BLOCK: "Say why: a reason is required"}}
            )
        request_id = str(_dig(payload, "view", "id") or "") + ":" + str(_dig(payload, "view", "hash") or "")
        self._enqueue(Job("decide", click, reason=reason[:REASON_MAX], request_id=request_id))
        return _answer(200)

    def _project(self, package_arn: str) -> Project:
        group = group_of(package_arn)
        project = self._config().project_for_group(group) if group else None
        if project is None:
            raise BadRequest(400, f"not a version of a managed group: {package_arn[:200]}")
        if not project.policy.approval.slack:
            raise BadRequest(403, f"Slack approvals are off for {project.group_name} (approval.slack)")
        return project

    def _enqueue(self, job: Job) -> None:
        try:
            (self.sqs or aws.client("sqs")).send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(job.as_dict()))
        except (ClientError, BotoCoreError) as exc:
            # Slack shows the user an error; nothing was decided, so nothing is lost
            raise aws.as_operation_error("sqs:SendMessage", exc) from exc

    def _config(self) -> Any:
        if self.config is not None:
            return self.config()
        from registry_workflow.config import load_config

        return load_config()

    # --- the worker: the decision queue ------------------------------------------------------------

    def handle_queue(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """An SQS batch; failed records are returned for a retry (ReportBatchItemFailures)."""
        failures = []
        for record in event.get("Records") or []:
            try:
                self.carry_out(Job.from_dict(json.loads(record["body"])))
            except (ValueError, TypeError, KeyError) as exc:
                # a message only this function writes: one it cannot read is a bug, kept for the DLQ
                logger.error("unreadable decision message", extra={"problem": str(exc)[:200]})
                failures.append({"itemIdentifier": record.get("messageId", "")})
            except Exception:  # noqa: BLE001 - retried by SQS, then dead-lettered and alarmed
                logger.exception("decision not carried out", extra={"message_id": record.get("messageId")})
                failures.append({"itemIdentifier": record.get("messageId", "")})
        return {"batchItemFailures": failures}

    def carry_out(self, job: Job) -> str:
        """Apply one decision (or one refused click); returns what was done."""
        click = job.click
        project = self._config().project_for_group(group_of(click.package_arn) or "")
        if project is None:
            return self._refuse(job, None, "not_managed", "That version is not in a managed group.")
        team = project.team
        if job.kind == "not_an_approver" or not _is_approver(project, click.user):
            return self._refuse(job, project, "not_an_approver", f"You are not an approver for {team}.")
        package = self._describe(click.package_arn)
        if package is None:
            return self._refuse(job, project, "no_such_version", "That version no longer exists.")
        replaced = _replaced(click, package)
        if replaced:
            return self._refuse(job, project, "version_replaced", replaced)
        status = package.get("ModelApprovalStatus")
        if status != PENDING:
            latest = self._records().chat_decision(click.package_arn)
            if latest is not None and latest.request_id == job.request_id and status == STATUS_OF[latest.decision]:
                # this very submit was applied by an earlier delivery that stopped before the rest
                return self._applied(job, project, click)
            return self._refuse(
                job, project, "already_decided", f"Already {_already(status, package, self._records())}."
            )
        # the pending state decided on; a version never modified since its creation (moto leaves
        # LastModifiedTime out then) is pending since it was created
        pending_since = _iso(package.get("LastModifiedTime") or package.get("CreationTime"))
        stale = self._stale(job, package, pending_since)
        if stale:
            return self._refuse(job, project, "stale_decision", stale)
        mine = ChatDecision(
            click.package_arn, pending_since, click.decision, click.user, click.user_name, team, job.reason,
            job.request_id,
        )  # fmt: skip
        if click.decision == "approve":
            # the gate's own rule, before anything is written: the deployer applies it again
            verdict = judge_chat_approval(package, mine, project.policy.approval, team, event_last_modified=None)
            if verdict.refusal == "self_approval":
                return self._refuse(
                    job, project, "self_approval", f"You registered v{click.version}: someone else must approve it."
                )
            if verdict.refusal == "unknown_registrant":
                return self._refuse(job, project, "unknown_registrant", f"Not approved: {verdict.reason}.")
        kept = self._records().claim_chat_decision(mine)
        if kept.request_id != mine.request_id:
            # the version is still pending: the kept decision was never applied; taken over only when
            # its run is over (lease run out, or never leased), else it is being applied now
            if not self._records().take_over_chat_decision(kept, mine, self.clock(), LEASE_SECONDS):
                return self._refuse(job, project, "already_decided", f"Already {PAST[kept.decision]} by {kept.who}.")
            logger.warning("an unapplied slack decision taken over", extra={"package_arn": click.package_arn})
        elif not self._records().lease_chat_decision(mine, self.clock(), LEASE_SECONDS):
            # another delivery of this very submit is applying it (or crashed less than a lease ago)
            logger.info("decision applied by another delivery", extra={"package_arn": click.package_arn})
            return "in_progress"
        description = _description(click, team, job.reason)
        try:
            (self.sagemaker or aws.client("sagemaker")).update_model_package(
                ModelPackageArn=click.package_arn,
                ModelApprovalStatus=STATUS_OF[click.decision],
                ApprovalDescription=description[:DESCRIPTION_MAX],
            )
        except (ClientError, BotoCoreError) as exc:
            raise aws.as_operation_error("sagemaker:UpdateModelPackage", exc) from exc
        return self._applied(job, project, click)

    def _stale(self, job: Job, package: dict[str, Any], pending_since: str) -> str | None:
        """Why this decision belongs to an earlier pending state of the version, else None.

        A version approved (or rejected) and then set back to pending is pending again under a new
        state: a redelivery of the submit that decided the earlier state, or a click made before
        the version went back to pending, must not decide the new one.
        """
        latest = self._records().chat_decision(job.click.package_arn)
        if latest is not None and latest.request_id == job.request_id and latest.pending_since != pending_since:
            return "Not decided: this decision was applied before the version was set back to pending; decide again."
        since = moment(package.get("LastModifiedTime"))
        try:
            clicked = float(job.click.action_ts)
        except ValueError:
            return None  # a click that does not say when: judged by the rest
        if since is not None and math.isfinite(clicked) and clicked < since.timestamp():
            return "Not decided: the version changed after you clicked; decide again on its current state."
        return None

    def _applied(self, job: Job, project: Project, click: Click) -> str:
        """After UpdateModelPackage: the audit entry, the message updated (each once, a retry included)."""
        description = _description(click, project.team, job.reason)
        self._audit(job, project, "decided", description)
        metrics.add_metric(name="ChatDecisions", unit="Count", value=1)
        logger.info(
            "decided in slack",
            extra={
                "package_arn": click.package_arn,
                "decision": click.decision,
                "user": click.user,
                "team": project.team,
            },
        )
        icon = ":white_check_mark:" if click.decision == "approve" else ":x:"
        self._update_message(
            click, f"{icon} *{PAST[click.decision].capitalize()}* by <@{click.user}>: {_esc(job.reason)}"
        )
        return PAST[click.decision]

    def _refuse(self, job: Job, project: Project | None, refusal: str, text: str) -> str:
        click = job.click
        logger.warning(
            "slack decision refused",
            extra={
                "package_arn": click.package_arn,
                "refusal": refusal,
                "user": click.user,
                "decision": click.decision,
            },
        )
        metrics.add_metric(name="ChatDecisionsRefused", unit="Count", value=1)
        if project is not None:
            self._audit(job, project, refusal, text)
        self._tell(click, text)
        return refusal

    def _audit(self, job: Job, project: Project, outcome: str, text: str) -> None:
        click = job.click
        accepted = outcome == "decided"
        self._trail().record(
            project.group_name,
            PAST[click.decision] if accepted else "refused",
            key=f"chat:{outcome}:{click.package_arn}:{job.request_id or click.action_ts}",
            actor=f"slack:{click.user}" + (f" (@{click.user_name})" if click.user_name else ""),
            version=click.version,
            package_arn=click.package_arn,
            created=click.created or None,
            reason=job.reason if accepted else text,
            details={"via": "slack", "decision": click.decision, "refusal": None if accepted else outcome},
        )

    def _tell(self, click: Click, text: str) -> None:
        """An ephemeral answer to the person who clicked (only they see it)."""
        if not click.response_url:
            return
        try:
            self.post_response(
                click.response_url, {"response_type": "ephemeral", "replace_original": False, "text": text}
            )
        except Exception as exc:  # noqa: BLE001 - the refusal is audited; a lost reply must not retry the decision
            logger.warning("ephemeral reply failed", extra={"error": type(exc).__name__})

    def _update_message(self, click: Click, outcome: str) -> None:
        """The original message, in place, without its buttons: what was decided, by whom, why."""
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": _esc(click.title or click.package_arn)[:3000]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": outcome[:3000]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _esc(click.package_arn)}]},
        ]
        text = f"{click.title}: {PAST[click.decision]} by @{click.user_name or click.user}"
        try:
            if click.channel and click.message_ts:
                self.slack().chat_update(channel=click.channel, ts=click.message_ts, text=text, blocks=blocks)
                return
        except Exception as exc:  # noqa: BLE001 - e.g. cant_update_message: fall back to the response_url
            logger.warning("chat.update failed", extra={"error": type(exc).__name__})
        try:
            if click.response_url:
                self.post_response(click.response_url, {"replace_original": True, "text": text, "blocks": blocks})
        except Exception as exc:  # noqa: BLE001 - the decision stands; the events announce it anyway
            logger.warning("message update failed", extra={"error": type(exc).__name__})

    def _describe(self, arn: str) -> dict[str, Any] | None:
        try:
            return dict((self.sagemaker or aws.client("sagemaker")).describe_model_package(ModelPackageName=arn))
        except ClientError as exc:
            if aws.error_code(exc) in {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}:
                return None
            raise aws.as_operation_error("sagemaker:DescribeModelPackage", exc) from exc
        except BotoCoreError as exc:
            raise aws.as_operation_error("sagemaker:DescribeModelPackage", exc) from exc

    def _records(self) -> GateRecords:
        if self.records is None:
            self.records = GateRecords.from_env()
        return self.records

    def _trail(self) -> AuditTrail:
        if self.trail is None:
            self.trail = AuditTrail.from_env()
        return self.trail


# --- the request's parts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Click:
    """Who clicked which button on which message: all the modal carries to the submit (private_metadata)."""

    package_arn: str
    decision: Literal["approve", "reject"]
    user: str
    user_name: str = ""
    channel: str = ""
    message_ts: str = ""
    response_url: str = ""
    title: str = ""
    action_ts: str = ""
    #: the version's CreationTime as its message's button carried it ("" on a message posted before)
    created: str = ""

    @classmethod
    def of(cls, payload: dict[str, Any], decision: Literal["approve", "reject"], value: str) -> Click:
        user = _dig(payload, "user", "id")
        if not isinstance(user, str) or not user:
            raise BadRequest(400, "block_actions without a user id")
        response_url = str(payload.get("response_url") or "")
        from registry_workflow.notifications import _acceptable_url

        package_arn, created = read_button_value(value)
        return cls(
            package_arn=package_arn[:256],
            decision=decision,
            user=user[:32],
            user_name=str(_dig(payload, "user", "username") or _dig(payload, "user", "name") or "")[:80],
            channel=str(_dig(payload, "container", "channel_id") or _dig(payload, "channel", "id") or "")[:32],
            message_ts=str(_dig(payload, "container", "message_ts") or _dig(payload, "message", "ts") or "")[:32],
            response_url=response_url[:512] if _acceptable_url(response_url) else "",
            title=str(_dig(payload, "message", "text") or "")[:300],
            action_ts=str(_dig(payload, "actions", 0, "action_ts") or "")[:32],
            created=created[:40],
        )

    @property
    def version(self) -> int | None:
        tail = self.package_arn.rsplit("/", 1)[-1]
        return int(tail) if tail.isdecimal() else None

    @property
    def who_short(self) -> str:
        return f"@{self.user_name}" if self.user_name else self.user


@dataclass(frozen=True)
class Job:
    """One message on the decision queue: a decision to carry out, or a click to refuse."""

    kind: Literal["decide", "not_an_approver"]
    click: Click
    reason: str = ""
    request_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        kind = data["kind"]
        if kind not in ("decide", "not_an_approver"):
            raise ValueError(f"unknown job kind {kind!r}")
        return cls(kind, Click(**data["click"]), str(data.get("reason", "")), str(data.get("request_id", "")))


def reason_modal(click: Click) -> dict[str, Any]:
    """The modal asking why (required), carrying the click in private_metadata."""
    verb = "Approve" if click.decision == "approve" else "Reject"
    version = f" v{click.version}" if click.version is not None else ""
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": {"type": "plain_text", "text": f"{verb}{version}"[:24]},
        "submit": {"type": "plain_text", "text": verb},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(asdict(click)),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{verb}* `{_esc(click.package_arn)}`"}},
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": REASON_MAX,
                },
            },
        ],
    }


def group_of(package_arn: str) -> str | None:
    """`arn:…:model-package/<group>/<version>` → group (None for anything else)."""
    parts = package_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "sagemaker" or not parts[5].startswith("model-package/"):
        return None
    path = parts[5].removeprefix("model-package/").split("/")
    return path[0] if len(path) == 2 and path[0] and path[1].isdecimal() else None


def _body_and_headers(event: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        raise BadRequest(400, "no body")
    if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise BadRequest(413, f"body over {MAX_BODY_BYTES} bytes")
    try:
        body = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode("utf-8")
    except ValueError:
        raise BadRequest(400, "body is not valid base64") from None
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, f"body over {MAX_BODY_BYTES} bytes")
    headers = event.get("headers") or {}
    return body, {str(k).lower(): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}


def _payload(body: bytes) -> dict[str, Any]:
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=10)
        payload = json.loads(form["payload"][0])
    except (ValueError, KeyError, IndexError, RecursionError):
        raise BadRequest(400, "malformed payload: expected payload=<JSON> (form-encoded)") from None
    if not isinstance(payload, dict):
        raise BadRequest(400, "malformed payload: not a JSON object")
    return payload


def _answer(status: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body) if body is not None else "",
    }


def _is_approver(project: Project, user: str) -> bool:
    approval = project.policy.approval
    return approval.slack and any(a.user == user for a in approval.slack_approvers.get(project.team, []))


def _replaced(click: Click, package: dict[str, Any]) -> str | None:
    """Why the version under the clicked ARN is not the one the message was about, else None.

    A group deleted and created again restarts at v1 under the same ARNs: a button left on an old
    message must not decide the new version. The button carries the version's CreationTime; a
    message posted before it did is judged by its own time (Slack's `message_ts`): a version created
    after its message was posted is not the message's. Neither known: refused (cannot tell).
    """
    from registry_workflow.events import event_time
    from registry_workflow.gate import moment

    created = moment(package.get("CreationTime"))
    if created is None:
        return (
            "Not decided: SageMaker did not say when this version was created, so it cannot be matched to the message."
        )
    when = event_time(created.isoformat())
    later = f"v{click.version} was registered again at {when} (the group was deleted and created again)"
    if click.created:
        try:
            same = event_time(click.created) == event_time(created.isoformat())
        except ValueError:
            same = False
        return None if same else f"Not decided: this message is about an earlier version; {later}."
    try:
        posted = float(click.message_ts)
    except ValueError:
        posted = math.nan
    if not math.isfinite(posted):
        return "Not decided: this message does not say which version it is about; decide on the version's own message."
    if created.timestamp() > posted:
        return f"Not decided: this message was posted before the version existed; {later}."
    return None


def _already(status: Any, package: dict[str, Any], records: GateRecords) -> str:
    """Who decided the version's status: "approved by @x (U…) in Slack", "rejected by <identity>"."""
    word = str(status or "changed").lower()
    decision = records.chat_decision(str(package.get("ModelPackageArn") or ""))
    if decision is not None and STATUS_OF[decision.decision] == status and decided_on(decision, package):
        return f"{word} by {decision.who}"
    from registry_workflow.notifications import actor_of

    return f"{word} by {actor_of(package) or 'someone'}"


def _dig(node: Any, *path: str | int) -> Any:
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and len(node) > part else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return str(value or "unknown")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clock(now: Callable[[], float]) -> Any:
    """slack_sdk's verifier asks its `Clock` for `now()`; ours is injectable."""
    from slack_sdk.signature import Clock

    class InjectedClock(Clock):
        def now(self) -> float:
            return now()

    return InjectedClock()


# --- Slack clients and secrets ----------------------------------------------------------------------


def _web_client() -> Any:
    """slack_sdk's WebClient with the bot token (cached with its secret); its logger stays silent."""
    from slack_sdk import WebClient

    from registry_workflow.notifications import _SILENT_SLACK_LOGGER

    token = _secret_field(os.environ.get(BOT_TOKEN_ENV, ""), "token")
    base = os.environ.get(SLACK_API_ENV, "").strip() or SLACK_API_DEFAULT
    return WebClient(token=token, base_url=base, timeout=2, logger=_SILENT_SLACK_LOGGER)


def _secret_field(secret_id: str, key: str) -> str:
    """One field of a JSON secret; its value is never logged, and an error names the secret only."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

    from registry_workflow.notifications import _secrets_provider

    if not secret_id:
        raise RegistryWorkflowError(f"no secret configured for the Slack {key}")
    try:
        value = _secrets_provider(aws.client("secretsmanager")).get(
            secret_id, max_age=SECRET_MAX_AGE_SECONDS, transform="json"
        )
    except (GetParameterError, TransformParameterError) as exc:
        raise RegistryWorkflowError(f"secret {secret_id} is unreadable ({type(exc).__name__})") from None
    found = str(value.get(key) or "").strip() if isinstance(value, dict) else ""
    if not found:
        raise RegistryWorkflowError(f'secret {secret_id} has no "{key}"')
    return found


def _post_response(url: str, body: dict[str, Any]) -> None:
    from slack_sdk.webhook import WebhookClient

    from registry_workflow.notifications import _SILENT_SLACK_LOGGER

    response = WebhookClient(url, timeout=3, logger=_SILENT_SLACK_LOGGER).send_dict(body)
    if not 200 <= response.status_code < 300:
        raise RegistryWorkflowError(f"response_url answered HTTP {response.status_code}")


# --- the function's entry ---------------------------------------------------------------------------

_service: ChatApprovals | None = None


def _description(click: Click, team: str, reason: str) -> str:
    """The version's ApprovalDescription for a decision made in Slack."""
    return f"{PAST[click.decision]} in Slack by {click.who_short} ({team}): {reason}"


def handle(event: Mapping[str, Any]) -> dict[str, Any]:
    """One invocation: an SQS batch from the decision queue, else a function URL request."""
    global _service
    if _service is None:
        _service = ChatApprovals.from_env()
    if isinstance(event, Mapping) and isinstance(event.get("Records"), list):
        return _service.handle_queue(event)
    return _service.handle_request(event)
