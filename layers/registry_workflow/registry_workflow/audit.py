"""The audit trail: every transition of every version, one entry each, hash-chained per group.

Entries live in the ledger table beside the deployment records (``LEDGER_TABLE``):

==========================  ==============================  ===============================================
item                        key                             purpose
==========================  ==============================  ===============================================
entry                       pk=AUDIT#<group>                one transition: kind, actor, time, version,
                            sk=ENTRY#<seq, 12 digits>       triggering event id, reason, details; the hash
                                                            of the previous entry and its own hash
head                        pk=AUDIT#<group>, sk=HEAD       seq and hash of the last entry
once-key                    pk=AUDIT#<group>, sk=KEY#<key>  the business key of a transition: a duplicated
                                                            event (or a retry) adds nothing
==========================  ==============================  ===============================================

An entry is appended in one transaction (entry, head moved from the seq it read, once-key), so
concurrent writers (Lambda runs handlers in parallel) never fork the chain: the loser reads the
head again and retries. `verify` recomputes every hash and link, so an entry that was changed,
removed or reordered is named. The chain proves that no single entry was edited; someone able
to rewrite the whole table could rebuild it, which is why every append also logs the new head
hash (CloudWatch Logs keeps an independent copy of the chain's progress).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.errors import RegistryWorkflowError
from registry_workflow.ledger_table import LedgerTableStore
from registry_workflow.observability import logger

GENESIS = "0" * 64
#: how the trail names the workflow when it acts on its own (validation, deployment, refusals)
WORKFLOW_ACTOR = "registry-workflow"
HEAD = "HEAD"
#: concurrent appends to one group retry this often before giving up (the event is then retried)
MAX_ATTEMPTS = 25

#: the kinds of entries, in the order a version meets them
KINDS = (
    "registered",
    "validated",
    "approved",
    "rejected",
    "refused",
    "withdrawn",
    "promotion_asked",
    "promotion_refused",
    "queued",
    "deploying",
    "deployed",
    "superseded",
    "failed",
    "rolled_back",
    "retiring",
    "retired",
)

#: what triggered the transition being recorded (set once per invocation by the handler)
_event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_event_id", default=None)


def set_event(event_id: str | None) -> None:
    """Name the event the current invocation handles; every entry it records carries the id."""
    _event_id.set(event_id)


@dataclass(frozen=True)
class AuditEntry:
    group: str
    seq: int
    kind: str
    time: str
    actor: str | None
    version: int | None
    package_arn: str | None
    event_id: str | None
    reason: str | None
    details: dict[str, str] = field(default_factory=dict)
    previous_hash: str = GENESIS
    hash: str = ""

    def computed_hash(self) -> str:
        """SHA-256 of every field but `hash`, as canonical JSON."""
        fields = asdict(self)
        fields.pop("hash")
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChainReport:
    """The outcome of `AuditTrail.verify`: ok, or the first entry that does not hold."""

    group: str
    entries: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str | None = None
    head_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AuditTrail(LedgerTableStore):
    """Appends to and reads the per-group hash chains in the ledger table."""

    what = "the audit trail's entries"

    # --- writes ------------------------------------------------------------------------------

    def record(
        self,
        group: str,
        kind: str,
        *,
        key: str,
        actor: str | None = None,
        version: int | None = None,
        package_arn: str | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        created: str | None = None,
    ) -> AuditEntry | None:
        """Append one entry unless `key` was recorded before (then None): exactly once per transition.

        `created`: the version's CreationTime, kept in `details["created"]`; a group deleted and
        created again reuses its versions' ARNs and numbers, and this tells whose entry it is.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown audit entry kind {kind!r}")
        clean = {k: str(v) for k, v in {**(details or {}), "created": created}.items() if v is not None and v != ""}
        for attempt in range(MAX_ATTEMPTS):
            head_seq, head_hash = self._head(group)
            entry = AuditEntry(
                group=group,
                seq=head_seq + 1,
                kind=kind,
                time=_now(),
                actor=actor,
                version=version,
                package_arn=package_arn,
                event_id=event_id if event_id is not None else _event_id.get(),
                reason=reason,
                details=clean,
                previous_hash=head_hash,
            )
            entry = AuditEntry(**{**asdict(entry), "hash": entry.computed_hash()})
            outcome = self._append(entry, head_seq, key)
            if outcome == "appended":
                logger.info(
                    "audit entry recorded",
                    extra={"group": group, "seq": entry.seq, "kind": kind, "audit_head": entry.hash},
                )
                return entry
            if outcome == "duplicate":
                return None
            aws.pause_before_retry(attempt)
        raise RegistryWorkflowError(f"audit trail of {group}: {MAX_ATTEMPTS} concurrent appends in a row lost")

    def _append(self, entry: AuditEntry, head_seq: int, key: str) -> str:
        pk = {"S": _pk(entry.group)}
        once = {
            "Put": {
                "TableName": self.table_name,
                "Item": {"pk": pk, "sk": {"S": f"KEY#{_key_digest(key)}"}, "seq": {"N": str(entry.seq)}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        put = {
            "Put": {
                "TableName": self.table_name,
                "Item": _to_item(entry),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        head_item = {"pk": pk, "sk": {"S": HEAD}, "seq": {"N": str(entry.seq)}, "hash": {"S": entry.hash}}
        head: dict[str, Any] = {"TableName": self.table_name, "Item": head_item}
        if head_seq == 0:
            head["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            head["ConditionExpression"] = "seq = :seq"
            head["ExpressionAttributeValues"] = {":seq": {"N": str(head_seq)}}
        try:
            self.client.transact_write_items(TransactItems=[once, put, {"Put": head}])
        except ClientError as exc:
            if aws.error_code(exc) != "TransactionCanceledException":
                raise aws.as_operation_error("dynamodb:TransactWriteItems", exc) from exc
            reasons = aws.cancellation_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return "duplicate"
            if not reasons and self._seen(entry.group, key):
                return "duplicate"
            return "lost"  # another writer moved the head (or a transaction conflict): read it again
        except BotoCoreError as exc:
            raise aws.as_operation_error("dynamodb:TransactWriteItems", exc) from exc
        return "appended"

    # --- reads -------------------------------------------------------------------------------

    def entries(self, group: str) -> list[AuditEntry]:
        """Every entry of a group's chain, in chain order (as stored: `verify` checks it)."""
        return [_from_item(item) for item in self._items(group) if item["sk"]["S"].startswith("ENTRY#")]

    def verify(self, group: str) -> ChainReport:
        """Recompute the chain: each entry's hash, its link to the previous one, the seq and the head."""
        items = list(self._items(group))
        head = next((i for i in items if i["sk"]["S"] == HEAD), None)
        entries = [_from_item(i) for i in items if i["sk"]["S"].startswith("ENTRY#")]
        previous, expected_seq = GENESIS, 1
        for stored_seq, entry in zip(_stored_seqs(items), entries, strict=True):
            problem = None
            if entry.seq != stored_seq:
                problem = f"entry stored at position {stored_seq} says it is entry {entry.seq} (moved)"
            elif entry.seq != expected_seq:
                problem = f"entries {expected_seq}..{entry.seq - 1} are missing (removed)"
            elif entry.previous_hash != previous:
                problem = "its link to the previous entry does not match (an entry before it was removed or reordered)"
            elif entry.hash != entry.computed_hash():
                problem = "its content does not match its hash (changed)"
            if problem:
                return ChainReport(group, len(entries), False, min(stored_seq, expected_seq), problem)
            previous, expected_seq = entry.hash, expected_seq + 1
        if head is not None:
            head_seq, head_hash = int(head["seq"]["N"]), head["hash"]["S"]
            if head_seq != len(entries) or head_hash != previous:
                problem = f"the head names entry {head_seq}, the chain ends at entry {len(entries)}"
                if head_seq == len(entries):
                    problem = "the head's hash does not match the last entry (the last entry was changed)"
                return ChainReport(group, len(entries), False, min(head_seq, len(entries) + 1), problem)
        elif entries:
            return ChainReport(group, len(entries), False, len(entries), "the chain has entries but no head")
        return ChainReport(group, len(entries), True, head_hash=previous if entries else None)

    def groups(self) -> list[str]:
        """Every group with an audit trail (a Scan: for the CLI, not for handlers)."""
        names: set[str] = set()
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "ProjectionExpression": "pk",
            "FilterExpression": "begins_with(pk, :audit)",
            "ExpressionAttributeValues": {":audit": {"S": "AUDIT#"}},
        }
        while True:
            page = self._call("Scan", self.client.scan, **kwargs)
            names.update(i["pk"]["S"].removeprefix("AUDIT#") for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(names)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _head(self, group: str) -> tuple[int, str]:
        item = self._get_item(_pk(group), HEAD)
        return (int(item["seq"]["N"]), item["hash"]["S"]) if item else (0, GENESIS)

    def _seen(self, group: str, key: str) -> bool:
        return self._get_item(_pk(group), f"KEY#{_key_digest(key)}") is not None

    def _items(self, group: str) -> Iterator[dict[str, Any]]:
        return self._partition(_pk(group))


# --- items ----------------------------------------------------------------------------------------


def created_of(detail: Any, package: dict[str, Any]) -> str | None:
    """A version's CreationTime in the events' canonical form: the event's, else its description's."""
    if getattr(detail, "creation_time", None):
        return str(detail.creation_time)
    created = package.get("CreationTime")
    if isinstance(created, datetime):
        from registry_workflow.events import event_time  # rare (an event without CreationTime): not at init

        return event_time(created.astimezone(UTC).isoformat())
    return None


def version_key(kind: str, arn: str, created: str | None, *rest: str) -> str:
    """The once-key of an entry about one version: its ARN and its CreationTime (a group deleted and
    created again reuses its versions' ARNs; the new v1's registration is a new entry)."""
    return ":".join([kind, arn, created or "", *rest])


def _pk(group: str) -> str:
    return f"AUDIT#{group}"


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stored_seqs(items: list[dict[str, Any]]) -> list[int]:
    return [int(i["sk"]["S"].removeprefix("ENTRY#")) for i in items if i["sk"]["S"].startswith("ENTRY#")]


def _to_item(entry: AuditEntry) -> dict[str, Any]:
    # the attribute is "group", not "group_name": the ledger's by-group index must not list entries
    body = json.dumps(entry.as_dict(), sort_keys=True, ensure_ascii=False)
    return {
        "pk": {"S": _pk(entry.group)},
        "sk": {"S": f"ENTRY#{entry.seq:012d}"},
        "entry": {"S": body},
    }


def _from_item(item: dict[str, Any]) -> AuditEntry:
    data = json.loads(item["entry"]["S"])
    return AuditEntry(**data)
