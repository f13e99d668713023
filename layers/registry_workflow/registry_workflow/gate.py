"""The gate: nothing reaches an endpoint that did not pass the policy in force and a second person.

Three locks, checked by the deployer itself for every approval (it never trusts that an
`Approved` event implies them):

1. **validated** — a passing validation of this version under the project's current policy
   digest, recorded in the ledger table by the workflow (`ValidationRecords`). The
   `CustomerMetadataProperties` stamp is for people: a registrant can write any metadata when it
   calls CreateModelPackage, so the stamp alone proves nothing;
2. **four eyes** — the identity that approved (`LastModifiedBy` of the approval) differs from the
   one that registered (`CreatedBy`), when `approval.distinct_approver` is on (the default);
3. **allowed approver** — when `approval.approvers` lists ARN patterns, the approver matches one.

The workflow's own approval (`validation.auto_approve`: a workflow role approved, and the
validation record says the validator approved it) counts as a distinct, allowed approver; a
workflow role is never taken for a person's approval otherwise. A missing or malformed
identity is unknown: never distinct, never allowed.

Who approved is read from `DescribeModelPackage` (the event does not carry it) and is trusted only
when the version was last modified at the approval event's `LastModifiedTime`: a later change
(our own validation stamp, someone's metadata edit) replaces `LastModifiedBy`. The verdict is
therefore taken once, before the gate writes anything, and kept in the ledger table per approval
(`APPROVAL#<time>`), so a retry of the same event reaches the same verdict.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from registry_workflow.ledger_table import LedgerTableStore

if TYPE_CHECKING:
    from registry_workflow.policy import ApprovalPolicy

#: names of the IAM roles the workflow's functions run as (comma-separated): the validator's
#: auto-approvals are the workflow's own; any other change by them is never an approval
WORKFLOW_ROLES_ENV = "WORKFLOW_ROLES"
#: name of the role the Slack approvals function runs as: its approvals are judged by its records
CHAT_ROLE_ENV = "CHAT_APPROVALS_ROLE"

_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/(.+)$")
_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+$")

#: the approval statuses the gate moves versions between (SageMaker's ModelApprovalStatus values)
PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"

#: how far Describe's `LastModifiedTime` may be from the event's and still be the same change: the
#: event's precision is not documented (epoch milliseconds in captures, ISO strings in the docs), so
#: one second, never less than what either shape carries. A workflow role's change inside it is
#: still never taken for an approval; someone else's, made within a second, would be.
SAME_CHANGE_SECONDS = 1.0

Refusal = Literal["self_approval", "not_an_approver", "unknown_approver", "unknown_registrant"]


# --- identities --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who acted on a version, from SageMaker's `UserContext` (`CreatedBy` / `LastModifiedBy`)."""

    arn: str | None
    principal_id: str | None = None
    source_identity: str | None = None
    user_profile: str | None = None

    @property
    def person(self) -> str:
        """What tells two people apart.

        `SourceIdentity` survives role chaining (IAM Identity Center and SAML set it to the person);
        a Studio user profile is a person; otherwise the full identity ARN (for an assumed role it
        names the session, which identity providers set to the user name).
        """
        return self.source_identity or self.user_profile or self.arn or ""

    @property
    def role_arn(self) -> str | None:
        """`arn:aws:iam::<account>:role/<name>` of an assumed-role session (the path is not in the ARN)."""
        match = _ASSUMED_ROLE.match(self.arn or "")
        return f"arn:{match.group(1)}:iam::{match.group(2)}:role/{match.group(3)}" if match else None

    @property
    def role_name(self) -> str | None:
        match = _ASSUMED_ROLE.match(self.arn or "")
        return match.group(3) if match else None

    def is_role_of(self, names: Collection[str], package_arn: str) -> bool:
        """A session of one of the roles `names` in the account that holds the version: the
        workflow's roles are named per stack, and a role of that name in another account is not it."""
        match = _ASSUMED_ROLE.match(self.arn or "")
        owner = package_arn.split(":")[4] if package_arn.count(":") >= 5 else None
        return match is not None and match.group(3) in names and match.group(2) == owner

    def __str__(self) -> str:
        return self.user_profile or self.arn or self.principal_id or "unknown"


def same_person(one: Identity, other: Identity) -> bool | None:
    """Are two identities one person? None when they cannot be compared.

    Compared by the strongest kind of identifier both carry: `SourceIdentity` (the person, through
    role chaining), else the Studio user profile, else the identity ARN. Each side's `person` alone
    would compare different kinds: a session with a SourceIdentity and the same session without
    one would be two people. Two Studio users sharing an execution role's session ARN differ by
    profile; a registrant and an approver with no kind of identifier in common are unprovable.
    """
    for kind in ("source_identity", "user_profile", "arn"):
        mine, theirs = getattr(one, kind), getattr(other, kind)
        if mine and theirs:
            return bool(mine == theirs)
    return None


def identity_of(user_context: Any) -> Identity | None:
    """An `Identity` from a `UserContext`, or None when it is missing or malformed."""
    if not isinstance(user_context, dict):
        return None
    iam = user_context.get("IamIdentity")
    iam = iam if isinstance(iam, dict) else {}
    arn = iam.get("Arn")
    arn = arn if isinstance(arn, str) and _IAM_ARN.match(arn) else None
    profile = user_context.get("UserProfileName")
    profile = profile if isinstance(profile, str) and profile.strip() else None
    if profile:
        domain = user_context.get("DomainId")
        profile = f"{domain}/{profile}" if isinstance(domain, str) and domain else profile
    if arn is None and profile is None:
        return None
    principal = iam.get("PrincipalId")
    source = iam.get("SourceIdentity")
    return Identity(
        arn=arn,
        principal_id=principal if isinstance(principal, str) else None,
        source_identity=source if isinstance(source, str) and source.strip() else None,
        user_profile=profile,
    )


# --- the four-eyes verdict (pure) ----------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalVerdict:
    """Whether an approval may stand: who registered, who approved, and why not."""

    registrant: str | None
    approver: str | None
    refusal: Refusal | None = None
    reason: str | None = None
    by_workflow: bool = False

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    def as_item(self) -> dict[str, str]:
        return {k: v for k, v in self._fields().items() if v}

    def _fields(self) -> dict[str, str]:
        return {
            "registrant": self.registrant or "",
            "approver": self.approver or "",
            "refusal": self.refusal or "",
            "reason": self.reason or "",
            "by_workflow": "true" if self.by_workflow else "",
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ApprovalVerdict:
        text = {k: v.get("S") for k, v in item.items() if isinstance(v, dict)}
        return cls(
            registrant=text.get("registrant"),
            approver=text.get("approver"),
            refusal=text.get("refusal") or None,
            reason=text.get("reason"),
            by_workflow=text.get("by_workflow") == "true",
        )


def judge_approval(
    package: dict[str, Any],
    policy: ApprovalPolicy,
    *,
    event_last_modified: datetime | None,
    workflow_roles: frozenset[str] = frozenset(),
    auto_approved: bool,
) -> ApprovalVerdict:
    """Four eyes and allowed approvers for the approval `package` (DescribeModelPackage) shows.

    `event_last_modified`: the approval event's `LastModifiedTime`; Describe's must be the same
    instant, within `SAME_CHANGE_SECONDS`. `workflow_roles`: names of the roles the workflow's
    functions run as.
    """
    registrant = identity_of(package.get("CreatedBy"))
    approver = identity_of(package.get("LastModifiedBy"))
    names = (str(registrant) if registrant else None, str(approver) if approver else None)
    described = _as_datetime(package.get("LastModifiedTime"))
    changed_since = (
        event_last_modified is not None
        and described is not None
        and abs((described - event_last_modified).total_seconds()) >= SAME_CHANGE_SECONDS
    )
    by_the_workflow = approver is not None and approver.is_role_of(
        workflow_roles, str(package.get("ModelPackageArn") or "")
    )
    if changed_since or (by_the_workflow and not auto_approved):
        # LastModifiedBy is whoever changed the version last: after the approval (a stamp, someone's
        # edit) it is not the approver, and the workflow approves only through auto_approve
        return ApprovalVerdict(
            names[0],
            None,
            "unknown_approver",
            f"the version changed after it was approved (last by {names[1] or 'unknown'}): "
            "who approved cannot be told; approve it again",
        )
    if approver is None:
        return ApprovalVerdict(*names, "unknown_approver", "approved by an unknown identity")
    if by_the_workflow:
        return ApprovalVerdict(*names, by_workflow=True)
    if policy.distinct_approver:
        if registrant is None:
            return ApprovalVerdict(
                *names, "unknown_registrant", "registered by an unknown identity: four eyes unprovable"
            )
        same = same_person(registrant, approver)
        if same is None:
            return ApprovalVerdict(
                *names,
                "unknown_registrant",
                "the registrant and the approver are known by different kinds of identity: four eyes unprovable",
            )
        if same:
            return ApprovalVerdict(*names, "self_approval", f"approved by its own registrant ({approver})")
    if policy.approvers and not _allowed(approver, policy.approvers):
        return ApprovalVerdict(*names, "not_an_approver", f"{approver} is not an allowed approver of this project")
    return ApprovalVerdict(*names)


def judge_chat_approval(
    package: dict[str, Any],
    decision: ChatDecision | None,
    policy: ApprovalPolicy,
    team: str,
    *,
    event_last_modified: datetime | None,
) -> ApprovalVerdict:
    """An approval made by the chat-approvals function's role, on behalf of the Slack user its record names.

    The role is only the messenger: the person is the Slack user of the latest chat decision on
    this version, who must still be one of the team's `slack_approvers` (with `approval.slack` on)
    and, where config ties them to IAM identities (of every entry naming them, under any team), must
    not be the version's registrant (`_registered_by`).
    """
    registrant = identity_of(package.get("CreatedBy"))
    registrant_name = str(registrant) if registrant else None
    described = _as_datetime(package.get("LastModifiedTime"))
    if (
        decision is None
        or decision.decision != "approve"
        or not decided_on(decision, package)
        or (
            event_last_modified is not None
            and described is not None
            and abs((described - event_last_modified).total_seconds()) >= SAME_CHANGE_SECONDS
        )
    ):
        return ApprovalVerdict(
            registrant_name, None, "unknown_approver", "approved by the Slack function with no Slack decision on record"
        )
    approver = decision.who
    listed = any(a.user == decision.slack_user for a in policy.slack_approvers.get(team, []))
    if not policy.slack or not listed:
        return ApprovalVerdict(
            registrant_name, approver, "not_an_approver", f"{approver} is not an approver for {team}"
        )
    if policy.distinct_approver:
        # four eyes as for any approval: provable only when config ties the Slack user to the IAM
        # identities they register with, and the registrant is known. A person is one person: the
        # identities of every entry naming the Slack user count, under any team
        identities = _slack_identities(policy, decision.slack_user)
        if not identities:
            return ApprovalVerdict(
                registrant_name,
                approver,
                "unknown_registrant",
                f"{approver} is not tied to an IAM identity (approval.slack_approvers: iam = [...]): "
                "four eyes unprovable",
            )
        if registrant is None:
            return ApprovalVerdict(
                registrant_name,
                approver,
                "unknown_registrant",
                "registered by an unknown identity: four eyes unprovable",
            )
        same = _registered_by(registrant, identities)
        if same is None:
            return ApprovalVerdict(
                registrant_name,
                approver,
                "unknown_registrant",
                f"the registrant ({registrant}) and {approver}'s IAM identities have no kind of identifier in "
                "common: four eyes unprovable",
            )
        if same:
            return ApprovalVerdict(
                registrant_name, approver, "self_approval", f"approved by its own registrant ({approver})"
            )
    return ApprovalVerdict(registrant_name, approver)


def _slack_identities(policy: ApprovalPolicy, slack_user: str) -> list[str]:
    """The IAM identity patterns of a Slack user: of every entry naming them, under every team."""
    return list(
        dict.fromkeys(
            pattern
            for entries in policy.slack_approvers.values()
            for a in entries
            if a.user == slack_user
            for pattern in a.iam
        )
    )


#: an IAM identity pattern's last part, which names a person: an assumed role's session name (identity
#: providers set it to the user) or an IAM user's name
_NAMED = re.compile(r"^arn:[^:]*:(?:sts::[^:]*:assumed-role/[^/]+|iam::[^:]*:user(?:/[^/]+)*)/([^/]+)$")


def _registered_by(registrant: Identity, patterns: list[str]) -> bool | None:
    """Did one of the IAM identities `patterns` register the version? None when that cannot be told.

    Kind with kind, as `same_person`, with any match deciding (these are all one person's): the
    registrant's `SourceIdentity` against the person each pattern names (a session or user name that is
    not wildcards only), its ARN (or its session's role ARN) against the patterns. A registrant with
    neither kind the patterns carry (a Studio profile alone) is unprovable.
    """
    names = [m.group(1) for m in map(_NAMED.match, patterns) if m and m.group(1).strip("*?")]
    source = registrant.source_identity
    if source and any(fnmatch.fnmatchcase(source, name) for name in names):
        return True
    if _allowed(registrant, patterns):
        return True
    if registrant.arn or (source and names):
        return False
    return None


def _allowed(approver: Identity, patterns: list[str]) -> bool:
    candidates = [c for c in (approver.arn, approver.role_arn) if c]
    return any(fnmatch.fnmatchcase(c, p) for c in candidates for p in patterns)


def decided_on(decision: ChatDecision, package: dict[str, Any]) -> bool:
    """Was the decision made on this version, not on an earlier one under the same ARN (a group
    deleted and created again)? Its pending state cannot predate the version's creation. Either
    time unknown: not provably this version's."""
    created = moment(package.get("CreationTime"))
    try:
        pending = datetime.fromisoformat(decision.pending_since)
    except ValueError:
        return False
    if created is None:
        return False
    pending = pending if pending.tzinfo else pending.replace(tzinfo=UTC)
    return pending >= created.replace(microsecond=created.microsecond // 1000 * 1000)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


# --- records the workflow keeps (ledger table) ---------------------------------------------------------


@dataclass(frozen=True)
class ValidationRecord:
    """A verdict of the workflow on one version under one policy digest."""

    package_arn: str
    digest: str
    passed: bool
    failed_rules: str = ""
    auto_approved: bool = False
    #: the key metrics the verdict looked at ("auc=0.91 f1=0.8", all of them: the stamp's copy is
    #: cut at 256 characters): a later version's regression rules read them here instead of
    #: describing this one
    metrics: str = ""
    #: the version's CreationTime (DescribeModelPackage): which version under this ARN it is about
    created: datetime | None = None


@dataclass(frozen=True)
class ChatDecision:
    """A decision made in Slack, claimed once per pending state of a version (chat_approvals.py)."""

    package_arn: str
    #: LastModifiedTime of the pending state decided on: one decision per state (single use)
    pending_since: str
    decision: Literal["approve", "reject"]
    slack_user: str
    slack_name: str
    team: str
    reason: str
    request_id: str

    @property
    def who(self) -> str:
        return f"@{self.slack_name} ({self.slack_user}) in Slack" if self.slack_name else f"{self.slack_user} in Slack"

    def as_item(self) -> dict[str, dict[str, str]]:
        fields = {k: v for k, v in self.__dict__.items() if k not in {"package_arn", "pending_since"}}
        return {
            "pk": {"S": _pk(self.package_arn)},
            "sk": {"S": f"{CHAT_PREFIX}{self.pending_since}"},
            "at": {"S": datetime.now(UTC).isoformat()},
        } | {k: {"S": str(v)} for k, v in fields.items()}

    @classmethod
    def from_item(cls, package_arn: str, item: dict[str, Any]) -> ChatDecision:
        text = {k: v.get("S", "") for k, v in item.items() if isinstance(v, dict)}
        decision: Literal["approve", "reject"] = "approve" if text.get("decision") == "approve" else "reject"
        return cls(
            package_arn,
            text.get("sk", "").removeprefix(CHAT_PREFIX),
            decision,
            text.get("slack_user", ""),
            text.get("slack_name", ""),
            text.get("team", ""),
            text.get("reason", ""),
            text.get("request_id", ""),
        )


CHAT_PREFIX = "CHAT#"
#: what `GateRecords.standing` says of a version's approval
Standing = Literal["admitted", "withdrawn", "unknown"]


class GateRecords(LedgerTableStore):
    """Validation verdicts and approval verdicts, keyed by version, in the ledger table.

    pk=PACKAGE#<arn>: sk=VALIDATION#<policy digest> (written by whoever validated) and
    sk=APPROVAL#<LastModifiedTime of the approval> (the four-eyes verdict, written once).
    """

    what = "the gate's records"

    def validation(self, package_arn: str, digest: str, *, created: object) -> ValidationRecord | None:
        """The verdict on the version under this ARN created at `created` (its CreationTime), under
        this policy. A group deleted and created again reuses its versions' ARNs: a verdict about
        another version under the ARN, or with no creation time to tell, never counts."""
        item = self._get(package_arn, f"VALIDATION#{digest}")
        when = moment(created)
        if item is None or when is None or not _about(item, when):
            return None
        return ValidationRecord(
            package_arn,
            digest,
            passed=item.get("status", {}).get("S") == "passed",
            failed_rules=item.get("failed_rules", {}).get("S", ""),
            auto_approved=item.get("auto_approved", {}).get("BOOL", False),
            metrics=item.get("metrics", {}).get("S", ""),
        )

    def validated_metrics(self, package_arn: str, created: datetime) -> list[tuple[datetime, str]]:
        """(when, key metrics) of every verdict about the version created at `created` that holds its metrics."""
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :validation)",
            ExpressionAttributeValues={":pk": {"S": _pk(package_arn)}, ":validation": {"S": "VALIDATION#"}},
            ConsistentRead=True,
        )
        found = []
        for item in items:
            metrics, at = item.get("metrics", {}).get("S"), _written_at(item)
            if metrics and at is not None and _about(item, created):
                found.append((at, metrics))
        return found

    def put_validation(self, record: ValidationRecord) -> None:
        item = {
            "pk": {"S": _pk(record.package_arn)},
            "sk": {"S": f"VALIDATION#{record.digest}"},
            "status": {"S": "passed" if record.passed else "failed"},
            "failed_rules": {"S": record.failed_rules},
            "auto_approved": {"BOOL": record.auto_approved},
            "at": {"S": datetime.now(UTC).isoformat()},
        }
        if record.metrics:
            item["metrics"] = {"S": record.metrics}
        if record.created is not None:
            item["created"] = {"S": record.created.isoformat()}
        self._call("PutItem", self.client.put_item, TableName=self.table_name, Item=item)

    # --- standing: is the version's approval the one the gate admitted? ----------------------------
    # One item per version (pk=PACKAGE#<arn>, sk=STANDING#<CreationTime>): `approved_at`, the
    # LastModifiedTime of the approval the gate admitted; `revoked_at`, the latest change that
    # withdrew an approval (set back to pending, refused by the gate). Both are the events'
    # canonical times (ISO-8601 UTC to the millisecond), so they compare as strings; events come
    # in any order, and only a later time moves either. Admitted = approved after the last
    # withdrawal. Work that deploys a version later than its approval (a queued deployment, a
    # promotion, a rollback target) asks `standing` first.

    def admit(self, package_arn: str, created: object, approved_at: str, approver: str | None, digest: str) -> None:
        """The gate admitted the approval made at `approved_at` (kept unless a later one was)."""
        extra = {"approver": approver or "unknown", "policy": digest}
        self._move_standing(package_arn, created, "approved_at", approved_at, extra)

    def revoke(self, package_arn: str, created: object, at: str) -> None:
        """An approval was withdrawn at `at` (set back to pending, or refused by the gate)."""
        self._move_standing(package_arn, created, "revoked_at", at)

    def _move_standing(
        self, package_arn: str, created: object, attribute: str, at: str, extra: dict[str, str] | None = None
    ) -> None:
        """Set the standing's `attribute` to `at` unless it holds a later time (events come in any order)."""
        key = _standing_key(package_arn, created)
        if key is None or not at:
            return  # no creation time: `standing` says "withdrawn"; no time: nothing to order it by
        fields = {attribute: at, **(extra or {})}  # names through aliases: some are DynamoDB reserved words
        self._conditional(
            "UpdateItem",
            self.client.update_item,
            TableName=self.table_name,
            Key=key,
            UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
            ConditionExpression="attribute_not_exists(#f0) OR #f0 < :f0",
            ExpressionAttributeNames={f"#f{i}": name for i, name in enumerate(fields)},
            ExpressionAttributeValues={f":f{i}": {"S": value} for i, value in enumerate(fields.values())},
        )

    def withdrawn_at(self, package_arn: str, created: object) -> str | None:
        """When the version's approval was last withdrawn, if it is withdrawn now (else None)."""
        item = self._standing_item(package_arn, created)
        if item is None or _admitted(item):
            return None
        return item.get("revoked_at", {}).get("S")

    def admitted_approver(self, package_arn: str, created: object) -> str | None:
        """Who approved the version by the approval the gate admitted (a Slack user by name), if admitted."""
        item = self._standing_item(package_arn, created)
        if item is None or not _admitted(item):
            return None
        approver = item.get("approver", {}).get("S")
        return None if approver in (None, "", "unknown") else approver

    def _standing_item(self, package_arn: str, created: object) -> dict[str, Any] | None:
        key = _standing_key(package_arn, created)
        return None if key is None else self._get_item(key["pk"]["S"], key["sk"]["S"])

    def standing(self, package_arn: str, created: object) -> Standing:
        """ "admitted" (the gate admitted its approval, not withdrawn since), "withdrawn", or
        "unknown": nothing recorded (a version approved before the gate kept standings; see
        docs/decisions.md 84)."""
        key = _standing_key(package_arn, created)
        if key is None:
            return "withdrawn"  # no creation time to tell which version: never admitted
        item = self._get_item(key["pk"]["S"], key["sk"]["S"])
        if item is None:
            return "unknown"
        return "admitted" if _admitted(item) else "withdrawn"

    def approval(self, package_arn: str, approved_at: str) -> ApprovalVerdict | None:
        item = self._get(package_arn, f"APPROVAL#{approved_at}")
        return ApprovalVerdict.from_item(item) if item else None

    def keep_approval(self, package_arn: str, approved_at: str, verdict: ApprovalVerdict) -> ApprovalVerdict:
        """Store the verdict unless one is stored already; the stored one wins (a retry agrees)."""
        item = {"pk": {"S": _pk(package_arn)}, "sk": {"S": f"APPROVAL#{approved_at}"}}
        item |= {k: {"S": v} for k, v in verdict.as_item().items()}
        if not self._conditional(
            "PutItem",
            self.client.put_item,
            TableName=self.table_name,
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
        ):
            return self.approval(package_arn, approved_at) or verdict
        return verdict

    def claim_chat_decision(self, decision: ChatDecision) -> ChatDecision:
        """Keep `decision` unless another was kept for the same pending state; the kept one is returned.

        One conditional write: a second click, a replayed request or a concurrent submit gets the
        first decision back; a retry of the same request (same `request_id`) gets its own, as kept
        (never rewritten: its lease stays).
        """
        if not self._conditional(
            "PutItem",
            self.client.put_item,
            TableName=self.table_name,
            Item=decision.as_item(),
            ConditionExpression="attribute_not_exists(pk)",
        ):
            item = self._get(decision.package_arn, f"{CHAT_PREFIX}{decision.pending_since}")
            return ChatDecision.from_item(decision.package_arn, item) if item else decision
        return decision

    def lease_chat_decision(self, decision: ChatDecision, now: float, seconds: float) -> bool:
        """Whether this delivery may apply its own claimed decision now (no other delivery of it is).

        A replayed request or SQS's at-least-once delivery can hand the same claimed decision to two
        workers at once; the lease lets one apply it. A lease outlives a crash by `seconds` only.
        """
        return self._conditional(
            "UpdateItem",
            self.client.update_item,
            TableName=self.table_name,
            Key={"pk": {"S": _pk(decision.package_arn)}, "sk": {"S": f"{CHAT_PREFIX}{decision.pending_since}"}},
            UpdateExpression="SET lease_until = :until",
            ConditionExpression="request_id = :mine AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            ExpressionAttributeValues={
                ":mine": {"S": decision.request_id},
                ":now": {"N": repr(now)},
                ":until": {"N": repr(now + seconds)},
            },
        )

    def take_over_chat_decision(self, kept: ChatDecision, mine: ChatDecision, now: float, seconds: float) -> bool:
        """Replace a kept decision that was never applied (the version is still pending) with `mine`, leased.

        Only a claim whose lease ran out (its run failed or crashed while applying it) or that was
        never leased for `seconds` after it was made (its run died between claiming and leasing): a
        claim in the middle of being applied keeps the version. One conditional write: of two
        takers one wins; the claim's own run, retried later, finds another request and stands down.
        """
        before = datetime.fromtimestamp(now - seconds, UTC).isoformat()
        return self._conditional(
            "UpdateItem",
            self.client.update_item,
            TableName=self.table_name,
            Key={"pk": {"S": _pk(mine.package_arn)}, "sk": {"S": f"{CHAT_PREFIX}{mine.pending_since}"}},
            UpdateExpression=(
                "SET decision = :decision, slack_user = :user, slack_name = :name, team = :team, "
                "reason = :reason, request_id = :mine, lease_until = :until, #at = :at"
            ),
            ConditionExpression=(
                "request_id = :theirs AND (lease_until < :now OR (attribute_not_exists(lease_until) AND #at < :before))"
            ),
            ExpressionAttributeNames={"#at": "at"},
            ExpressionAttributeValues={
                ":decision": {"S": mine.decision},
                ":user": {"S": mine.slack_user},
                ":name": {"S": mine.slack_name},
                ":team": {"S": mine.team},
                ":reason": {"S": mine.reason},
                ":mine": {"S": mine.request_id},
                ":theirs": {"S": kept.request_id},
                ":now": {"N": repr(now)},
                ":until": {"N": repr(now + seconds)},
                ":at": {"S": datetime.fromtimestamp(now, UTC).isoformat()},
                ":before": {"S": before},
            },
        )

    def chat_actor(self, package: dict[str, Any]) -> str | None:
        """The Slack user behind the version's last change, when the Slack approvals function made
        it (`CHAT_APPROVALS_ROLE`, in the version's account): the role is only the messenger."""
        chat_role = configured_chat_role()
        changer = identity_of(package.get("LastModifiedBy"))
        arn = str(package.get("ModelPackageArn") or "")
        if not chat_role or changer is None or not changer.is_role_of({chat_role}, arn):
            return None
        decision = self.chat_decision(arn)
        return decision.who if decision is not None else None

    def chat_decision(self, package_arn: str) -> ChatDecision | None:
        """The latest decision made in Slack on this version (sort keys are ISO times)."""
        items = self._call(
            "Query",
            self.client.query,
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :chat)",
            ExpressionAttributeValues={":pk": {"S": _pk(package_arn)}, ":chat": {"S": CHAT_PREFIX}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        ).get("Items", [])
        return ChatDecision.from_item(package_arn, items[0]) if items else None

    def _get(self, package_arn: str, sk: str) -> dict[str, Any] | None:
        return self._get_item(_pk(package_arn), sk)


def moment(value: object) -> datetime | None:
    """A CreationTime as botocore gives it (an aware datetime; naive is UTC); None for anything else."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _written_at(item: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(item.get("at", {}).get("S", ""))
    except ValueError:
        return None


def _about(item: dict[str, Any], created: datetime) -> bool:
    """Is this verdict about the version created at `created`? Its own record of the version's
    CreationTime says, to the millisecond (no clock but SageMaker's is involved); a verdict kept
    before verdicts recorded it, by having been written after that version existed."""
    try:
        recorded = moment(datetime.fromisoformat(item["created"]["S"]))
    except (KeyError, TypeError, ValueError):
        written = _written_at(item)
        return written is not None and written >= created
    return recorded is not None and _to_millis(recorded) == _to_millis(created)


def _to_millis(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def configured_chat_role() -> str | None:
    """The Slack approvals function's role name (`CHAT_APPROVALS_ROLE`), None when Slack is not wired."""
    return os.environ.get(CHAT_ROLE_ENV, "").strip() or None


def _admitted(standing: dict[str, Any]) -> bool:
    """A standing item says admitted: an approval admitted after the last withdrawal (if any)."""
    approved, revoked = standing.get("approved_at", {}).get("S"), standing.get("revoked_at", {}).get("S")
    return bool(approved) and (revoked is None or revoked < approved)


def _standing_key(package_arn: str, created: object) -> dict[str, dict[str, str]] | None:
    when = moment(created)
    if when is None:
        return None
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return {"pk": {"S": _pk(package_arn)}, "sk": {"S": f"STANDING#{stamp}"}}


def _pk(package_arn: str) -> str:
    return f"PACKAGE#{package_arn}"
