"""The deployment ledger: one DynamoDB record per deployment, and a lock per endpoint.

Table layout (one table, `LEDGER_TABLE`; `table_definition()` is the schema `template.yaml`'s
`LedgerTable` must match, a test checks it):

===========================  ===================================  =========================================
item                         key                                  purpose
===========================  ===================================  =========================================
deployment record            pk=ENDPOINT#<endpoint>               every field of `Deployment`; an endpoint's
                             sk=DEPLOY#<deployment_id>            records are one Query (live, previous,
                                                                  queued, in flight)
endpoint lock                pk=ENDPOINT#<endpoint>, sk=LOCK      exists while a deployment is in progress;
                                                                  written with attribute_not_exists, so one
                                                                  deployment per endpoint at a time; the
                                                                  deployer re-reads it (`lock_holder`) just
                                                                  before Create/UpdateEndpoint
===========================  ===================================  =========================================

GSI ``by-group`` (hash ``group_name``, range ``created_at``, projection ALL) serves
`history(group)`. A deployment moves between statuses only by conditional writes (the expected
current status is part of the write), so a duplicate event changes nothing the second time.
Deployment ids are deterministic (see `deployment_id_for`): a retry after a crash finds its own
record instead of making a twin.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from registry_workflow import aws
from registry_workflow.errors import ConfigError, DeploymentConflictError
from registry_workflow.ledger_table import LEDGER_TABLE_ENV, LedgerTableStore
from registry_workflow.observability import logger

#: the local twin names tables after their logical id in template.yaml
DEFAULT_LOCAL_TABLE = "LedgerTable"
GROUP_INDEX = "by-group"
LOCK = "LOCK"

#: sends of a transaction cancelled by TransactionConflict alone, before it is an error (ledger._call)
TRANSACTION_CONFLICT_ATTEMPTS = 5


class DeploymentStatus(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    SUPERSEDED = "superseded"


#: the audit trail's name for each status a deployment reaches
_AUDIT_KIND = {
    DeploymentStatus.QUEUED: "queued",
    DeploymentStatus.IN_PROGRESS: "deploying",
    DeploymentStatus.SUCCEEDED: "deployed",
    DeploymentStatus.FAILED: "failed",
    DeploymentStatus.ROLLED_BACK: "rolled_back",
    DeploymentStatus.SUPERSEDED: "superseded",
}

#: a retirement (the endpoint deleted) is said as such, not as a deployment
_RETIRE_AUDIT_KIND = {DeploymentStatus.IN_PROGRESS: "retiring", DeploymentStatus.SUCCEEDED: "retired"}

FINISHED = {
    DeploymentStatus.SUCCEEDED,
    DeploymentStatus.FAILED,
    DeploymentStatus.ROLLED_BACK,
    DeploymentStatus.SUPERSEDED,
}


@dataclass(frozen=True)
class Deployment:
    """One deployment of one model package version to one endpoint."""

    deployment_id: str
    endpoint: str
    group: str
    version: int
    package_arn: str
    model_name: str
    endpoint_config_name: str
    strategy: str
    status: DeploymentStatus = DeploymentStatus.QUEUED
    #: "deploy" for an approval, "rollback" when a rejected live version is replaced, "retire" when
    #: it is taken down with nothing to fall back to (`deploy.on_reject_without_fallback = "delete"`)
    kind: str = "deploy"
    previous_package_arn: str | None = None
    approver: str | None = None
    approval_description: str | None = None
    failure_reason: str | None = None
    #: the deployment a rollback undoes
    rollback_of: str | None = None
    created_at: str = ""
    updated_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    #: the version's CreationTime: tells a version from a later one reusing its ARN (group recreated)
    package_created: str | None = None
    #: the stage of a staged project the endpoint serves (None: the project's only stage)
    stage: str | None = None

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data


def deployment_id_for(endpoint: str, package_arn: str, trigger: str) -> str:
    """Deterministic id: the same approval (or rollback) of the same version is the same deployment."""
    digest = hashlib.sha256(f"{endpoint}\0{package_arn}\0{trigger}".encode()).hexdigest()[:16]
    return f"d-{digest}"


def table_definition() -> dict[str, Any]:
    """KeySchema, attributes and indexes of the ledger table (CreateTable arguments without the name)."""
    return {
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "group_name", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GROUP_INDEX,
                "KeySchema": [
                    {"AttributeName": "group_name", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_FIELDS = {f.name for f in fields(Deployment)}


class DeploymentLedger(LedgerTableStore):
    """Reads and conditionally writes deployment records; see the module docstring for the layout."""

    what = "the deployment records"

    @classmethod
    def from_env(cls, default: str | None = None) -> Self:
        name = os.environ.get(LEDGER_TABLE_ENV) or default
        if not name:
            raise ConfigError(LEDGER_TABLE_ENV, None, "is not set: the deployment ledger table is unknown")
        return cls(name)

    def create_table(self) -> None:
        """Create the table (the local twin and tests; in AWS, template.yaml does)."""
        self.client.create_table(TableName=self.table_name, **table_definition())

    # --- reads -------------------------------------------------------------------------------

    def get(self, endpoint: str, deployment_id: str) -> Deployment | None:
        item = self._call(
            "GetItem",
            self.client.get_item,
            TableName=self.table_name,
            Key=_key(endpoint, f"DEPLOY#{deployment_id}"),
            ConsistentRead=True,
        ).get("Item")
        return _from_item(item) if item else None

    def snapshot(self, endpoint: str) -> EndpointSnapshot:
        """Every record of an endpoint and its lock, in one consistent Query (they share a key)."""
        items = list(
            self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _pk(endpoint)}},
                ConsistentRead=True,
            )
        )
        lock = next((i for i in items if i["sk"]["S"] == LOCK), None)
        records = [_from_item(i) for i in items if i["sk"]["S"].startswith("DEPLOY#")]
        return EndpointSnapshot(
            tuple(sorted(records, key=lambda d: (d.created_at, d.deployment_id))),
            lock["deployment_id"]["S"] if lock else None,
        )

    def for_endpoint(self, endpoint: str) -> list[Deployment]:
        """Every deployment of an endpoint, oldest first."""
        return list(self.snapshot(endpoint).records)

    def live(self, endpoint: str) -> Deployment | None:
        """The version running now: the succeeded deployment that finished last."""
        return self.snapshot(endpoint).live

    def succeeded(self, endpoint: str) -> list[Deployment]:
        """Succeeded deployments, the one that finished last first (live, then previous, …)."""
        return succeeded_of(self.snapshot(endpoint).records)

    def in_progress(self, endpoint: str) -> Deployment | None:
        """The deployment holding the endpoint's lock, if any."""
        return self.snapshot(endpoint).in_progress

    def lock_holder(self, endpoint: str) -> str | None:
        """The id of the deployment holding the endpoint's lock (one consistent GetItem), or None."""
        item = self._call(
            "GetItem",
            self.client.get_item,
            TableName=self.table_name,
            Key=_key(endpoint, LOCK),
            ConsistentRead=True,
        ).get("Item")
        return str(item["deployment_id"]["S"]) if item else None

    def queued(self, endpoint: str) -> list[Deployment]:
        """Queued deployments in the order they were queued."""
        return self.snapshot(endpoint).queued

    def history(self, group: str) -> list[Deployment]:
        """Every deployment of a group's versions, oldest first (GSI by-group)."""
        items = self._query(
            IndexName=GROUP_INDEX,
            KeyConditionExpression="group_name = :group",
            ExpressionAttributeValues={":group": {"S": group}},
        )
        return [_from_item(i) for i in items]

    def endpoints(self) -> list[str]:
        """Every endpoint the ledger knows (a Scan: for the CLI, not for handlers)."""
        names: set[str] = set()
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ProjectionExpression": "pk"}
        while True:
            page = self._call("Scan", self.client.scan, **kwargs)
            keys = (i["pk"]["S"] for i in page.get("Items", []))
            # the table also holds the audit trail (AUDIT#) and the gate's records (PACKAGE#)
            names.update(k.removeprefix("ENDPOINT#") for k in keys if k.startswith("ENDPOINT#"))
            if "LastEvaluatedKey" not in page:
                return sorted(names)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- writes ------------------------------------------------------------------------------

    def add(self, record: Deployment) -> tuple[Deployment, bool]:
        """Write a new record (queued, superseded, …); an existing one with that id is returned as is.

        Returns (record, created).
        """
        now = _now()
        record = replace(record, created_at=record.created_at or now, updated_at=now)
        if record.is_finished and not record.finished_at:
            record = replace(record, finished_at=now)
        try:
            self._call(
                "PutItem",
                self.client.put_item,
                TableName=self.table_name,
                Item=_to_item(record),
                ConditionExpression="attribute_not_exists(pk)",
                reraise_conditional=True,
            )
        except _ConditionFailed:
            existing = self.get(record.endpoint, record.deployment_id)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise
            if existing.status == record.status:  # a retry: its audit entry may be missing
                self._audit(existing, existing.status, existing.failure_reason)
            return existing, False
        self._audit(record, record.status, record.failure_reason)
        return record, True

    def begin(self, record: Deployment) -> Deployment:
        """Take the endpoint's lock and mark `record` in progress, in one transaction.

        Raises `DeploymentConflictError` when any deployment holds the lock (a deployment that
        already holds it resumes without calling this), or the record is no longer queued.
        `started_at` is this attempt's start (a requeued record gets a new one): the tracker only
        concludes a failure from an endpoint modified after it.
        """
        now = _now()
        started = replace(
            record,
            status=DeploymentStatus.IN_PROGRESS,
            created_at=record.created_at or now,
            started_at=now,
            updated_at=now,
        )
        lock = {
            "Put": {
                "TableName": self.table_name,
                "Item": {
                    **_key(record.endpoint, LOCK),
                    "deployment_id": {"S": record.deployment_id},
                    "acquired_at": {"S": now},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        put = {
            "Put": {
                "TableName": self.table_name,
                "Item": _to_item(started),
                "ConditionExpression": "attribute_not_exists(pk) OR #s = :queued",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":queued": {"S": str(DeploymentStatus.QUEUED)}},
            }
        }
        try:
            self._call(
                "TransactWriteItems",
                self.client.transact_write_items,
                TransactItems=[lock, put],
                reraise_conditional=True,
            )
        except _ConditionFailed as exc:
            holder = self.in_progress(record.endpoint)
            raise DeploymentConflictError(
                f"endpoint {record.endpoint} is held by "
                f"{holder.deployment_id if holder else 'a finished deployment'}: {exc}"
            ) from None
        self._audit(started, DeploymentStatus.IN_PROGRESS, attempt=now)
        return started

    def finish(self, record: Deployment, status: DeploymentStatus, failure_reason: str | None = None) -> bool:
        """Close an in-progress deployment and release the lock; False if it was closed already."""
        now = _now()
        update = {
            "Update": {
                "TableName": self.table_name,
                "Key": _key(record.endpoint, f"DEPLOY#{record.deployment_id}"),
                **_set_expression(
                    {
                        "status": str(status),
                        "failure_reason": failure_reason,
                        "updated_at": now,
                        "finished_at": now,
                    },
                    condition="#s = :expected",
                    expected=DeploymentStatus.IN_PROGRESS,
                ),
            }
        }
        if not self._transact_release(record, update):
            self._audit_if_already(record, status, failure_reason)
            return False
        self._audit(record, status, failure_reason)
        return True

    def requeue(self, record: Deployment, reason: str) -> bool:
        """Put an in-progress deployment back in the queue (the endpoint turned out busy)."""
        now = _now()
        update = {
            "Update": {
                "TableName": self.table_name,
                "Key": _key(record.endpoint, f"DEPLOY#{record.deployment_id}"),
                **_set_expression(
                    {"status": str(DeploymentStatus.QUEUED), "failure_reason": reason, "updated_at": now},
                    condition="#s = :expected",
                    expected=DeploymentStatus.IN_PROGRESS,
                ),
            }
        }
        if not self._transact_release(record, update):
            return False
        self._audit(record, DeploymentStatus.QUEUED, reason, attempt=now)
        return True

    def transition(
        self,
        record: Deployment,
        status: DeploymentStatus,
        *,
        expected: DeploymentStatus,
        failure_reason: str | None = None,
    ) -> bool:
        """Move a record that holds no lock (queued → superseded, succeeded → rolled_back)."""
        now = _now()
        values: dict[str, Any] = {"status": str(status), "updated_at": now}
        if failure_reason is not None:
            values["failure_reason"] = failure_reason
        if status in FINISHED and status != DeploymentStatus.ROLLED_BACK:
            values["finished_at"] = now
        try:
            self._call(
                "UpdateItem",
                self.client.update_item,
                TableName=self.table_name,
                Key=_key(record.endpoint, f"DEPLOY#{record.deployment_id}"),
                **_set_expression(values, condition="#s = :expected", expected=expected),
                reraise_conditional=True,
            )
        except _ConditionFailed:
            self._audit_if_already(record, status, failure_reason)
            return False
        self._audit(record, status, failure_reason)
        return True

    def _audit_if_already(self, record: Deployment, status: DeploymentStatus, reason: str | None) -> None:
        """A write that found `status` already set may be the retry of a run that crashed between
        its ledger write and its audit entry: record the entry now (its once-key makes it exactly once)."""
        current = self.get(record.endpoint, record.deployment_id)
        if current is not None and current.status == status:
            self._audit(current, status, current.failure_reason or reason)

    def _audit(
        self, record: Deployment, status: DeploymentStatus, reason: str | None = None, *, attempt: str = ""
    ) -> None:
        """One audit entry per status a deployment reaches (the trail shares this table)."""
        from registry_workflow.audit import WORKFLOW_ACTOR, AuditTrail

        kind = _RETIRE_AUDIT_KIND.get(status, _AUDIT_KIND[status]) if record.kind == "retire" else _AUDIT_KIND[status]
        if record.kind == "rollback" and status == DeploymentStatus.SUCCEEDED:
            reason = reason or f"rolled back to v{record.version}"
        AuditTrail(self.table_name, self._client).record(
            record.group,
            kind,
            key=f"deploy:{record.deployment_id}:{status}:{attempt}",
            actor=WORKFLOW_ACTOR,
            version=record.version,
            package_arn=record.package_arn,
            reason=reason,
            created=record.package_created,
            details={
                "deployment_id": record.deployment_id,
                "endpoint": record.endpoint,
                "deployment": record.kind,
                "endpoint_config": record.endpoint_config_name,
                "approver": record.approver,
                "rollback_of": record.rollback_of,
                "stage": record.stage,
            },
        )

    # --- plumbing ----------------------------------------------------------------------------

    def _transact_release(self, record: Deployment, update: dict[str, Any]) -> bool:
        release = {
            "Delete": {
                "TableName": self.table_name,
                "Key": _key(record.endpoint, LOCK),
                "ConditionExpression": "deployment_id = :id",
                "ExpressionAttributeValues": {":id": {"S": record.deployment_id}},
            }
        }
        try:
            self._call(
                "TransactWriteItems",
                self.client.transact_write_items,
                TransactItems=[update, release],
                reraise_conditional=True,
            )
        except _ConditionFailed:
            return False
        return True

    @staticmethod
    def _call(operation: str, method: Any, *, reraise_conditional: bool = False, **kwargs: Any) -> Any:
        """One DynamoDB call; a lost condition raises _ConditionFailed when asked, any other error
        an AwsOperationError.

        A transaction cancelled only because another transaction touched one of its items at the
        same moment (TransactionConflict, no condition failed) applied nothing, and botocore does
        not retry it: it is sent again, a few times, after a random pause. moto never cancels so.
        """
        for attempt in range(TRANSACTION_CONFLICT_ATTEMPTS):
            try:
                return method(**kwargs)
            except ClientError as exc:
                code, reasons = aws.error_code(exc), aws.cancellation_reasons(exc)
                if reraise_conditional and (
                    code == "ConditionalCheckFailedException" or "ConditionalCheckFailed" in reasons
                ):
                    raise _ConditionFailed(aws.error_message(exc)) from None
                conflict = code == "TransactionCanceledException" and set(reasons) - {None, "None"} == {
                    "TransactionConflict"
                }
                if not conflict or attempt + 1 == TRANSACTION_CONFLICT_ATTEMPTS:
                    raise aws.as_operation_error(f"dynamodb:{operation}", exc) from exc
                logger.info("transaction conflict: sent again", extra={"operation": operation, "attempt": attempt + 1})
                aws.pause_before_retry(attempt)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


class _ConditionFailed(Exception):
    """A conditional write lost: someone (or an earlier delivery) got there first."""


def _now() -> str:
    # microseconds: records are ordered by created_at, and a queue can fill within a millisecond
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _pk(endpoint: str) -> str:
    return f"ENDPOINT#{endpoint}"


def _key(endpoint: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": _pk(endpoint)}, "sk": {"S": sk}}


def _to_item(record: Deployment) -> dict[str, Any]:
    data = {k: v for k, v in record.as_dict().items() if v is not None}
    data["group_name"] = data.pop("group")
    item = {k: _SERIALIZER.serialize(v) for k, v in data.items()}
    return {**_key(record.endpoint, f"DEPLOY#{record.deployment_id}"), **item}


def _from_item(item: dict[str, Any]) -> Deployment:
    data = {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}
    data["group"] = data.pop("group_name")
    data["version"] = int(data["version"])
    data["status"] = DeploymentStatus(data["status"])
    return Deployment(**{k: v for k, v in data.items() if k in _FIELDS})


def _set_expression(values: dict[str, Any], *, condition: str, expected: str) -> dict[str, Any]:
    names = {"#s": "status"}
    sets: list[str] = []
    removes: list[str] = []
    attr_values: dict[str, Any] = {":expected": {"S": str(expected)}}
    for index, (name, value) in enumerate(values.items()):
        names[f"#f{index}"] = name
        if value is None:
            removes.append(f"#f{index}")
        else:
            sets.append(f"#f{index} = :v{index}")
            attr_values[f":v{index}"] = _SERIALIZER.serialize(value)
    expression = ("SET " + ", ".join(sets)) if sets else ""
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return {
        "UpdateExpression": expression.strip(),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": attr_values,
    }


@dataclass(frozen=True)
class EndpointSnapshot:
    """An endpoint's deployments (oldest first) and the id of the one holding its lock."""

    records: tuple[Deployment, ...]
    lock_id: str | None

    def get(self, deployment_id: str) -> Deployment | None:
        return next((d for d in self.records if d.deployment_id == deployment_id), None)

    @property
    def in_progress(self) -> Deployment | None:
        return self.get(self.lock_id) if self.lock_id else None

    @property
    def live(self) -> Deployment | None:
        return live_of(self.records)

    @property
    def queued(self) -> list[Deployment]:
        return [d for d in self.records if d.status == DeploymentStatus.QUEUED]


def succeeded_of(records: Iterable[Deployment]) -> list[Deployment]:
    """Succeeded deployments of a version, the one that finished last first (retirements are none)."""
    return [d for d in _finished_last_first(records) if d.kind != "retire"]


def live_of(records: Iterable[Deployment]) -> Deployment | None:
    """The live deployment: the last that succeeded, unless the endpoint was retired after it (None)."""
    last = next(iter(_finished_last_first(records)), None)
    return None if last is None or last.kind == "retire" else last


def _finished_last_first(records: Iterable[Deployment]) -> list[Deployment]:
    done = [d for d in records if d.status == DeploymentStatus.SUCCEEDED]
    return sorted(done, key=lambda d: (d.finished_at or "", d.created_at), reverse=True)


def newest_first(records: Iterable[Deployment]) -> list[Deployment]:
    """Highest version first (ties: the one queued last): the order in which queued approvals win."""
    return sorted(records, key=lambda d: (d.version, d.created_at), reverse=True)
