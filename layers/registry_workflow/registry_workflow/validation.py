"""Judge a new version against its project's `ValidationPolicy`, and record the verdict on it.

`evaluate` is pure: metrics + policy (+ the champion's metrics) → `ValidationResult`.
`validate_version` is the orchestration the validator Lambda runs for one version:

1. `DescribeModelPackage` — act only on a version that is still `PendingManualApproval` and not
   already stamped with this policy's digest (so our own stamp's event never re-validates);
2. load its metrics from S3 (`registry_workflow.metrics`); missing or unreadable metrics fail
   closed unless the policy says `on_missing_metrics = "pass"`;
3. when the policy has `max_regression` rules, find the champion (the Approved version with the
   highest version number, or whatever `champion_finder` says — e.g. the deployment ledger's
   live version) and load its metrics;
4. one `UpdateModelPackage` that stamps `CustomerMetadataProperties` and, where the policy says
   so, sets `ModelApprovalStatus` (Rejected with the failed rules, or Approved).

Calls per version (SageMaker and S3): 3 (Describe, GetObject, Update); with regression rules 4
(+ List): the champion's metrics come from this container's memory (it stamped the champion, or
met it before), else from the workflow's own verdict on the champion in the ledger table (one
DynamoDB Query: the metrics that verdict looked at, written after the champion was created).
Only a champion with no such verdict covering the rules (validated before verdicts kept metrics,
or never by this workflow) costs a fifth call, its Describe (+ GetObject if its stamp does not
cover the rules either).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.audit import WORKFLOW_ACTOR, created_of, version_key
from registry_workflow.errors import MetricsUnavailableError
from registry_workflow.gate import APPROVED, PENDING, ValidationRecord, moment
from registry_workflow.metrics import load_metrics
from registry_workflow.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

    from registry_workflow.audit import AuditTrail
    from registry_workflow.config import Project
    from registry_workflow.events import ModelPackageDetail
    from registry_workflow.gate import GateRecords
    from registry_workflow.policy import ValidationPolicy


STAMP_PREFIX = "validation."
STATUS_KEY = "validation.status"
FAILED_RULES_KEY = "validation.failed-rules"
POLICY_KEY = "validation.policy"
METRICS_KEY = "validation.metrics"
CHAMPION_KEY = "validation.champion"

#: SageMaker's limits on CustomerMetadataProperties values and on ApprovalDescription
METADATA_VALUE_MAX = 256
DESCRIPTION_MAX = 1024
# CustomerMetadataProperties values must match [\p{L}\p{Z}\p{N}_.:/=+\-@]* (botocore's model)
_METADATA_UNSAFE = re.compile(r"[^\w .:/=+\-@]")
_EPSILON = 1e-12


class ChampionRef(NamedTuple):
    """The version new versions are compared with: its ARN, and when it was created (a group
    deleted and created again reuses its versions' ARNs; their CreationTime tells them apart)."""

    arn: str
    created: datetime | None = None


#: (group, candidate ARN) → the champion (None: no champion)
ChampionFinder = Callable[[str, str], "ChampionRef | None"]


@dataclass(frozen=True)
class MetricCheck:
    """One rule applied to one metric."""

    metric: str
    rule: Literal["min", "max", "max_regression"]
    threshold: float
    value: float | None
    ok: bool
    text: str

    @property
    def threshold_text(self) -> str:
        symbol = {"min": "≥", "max": "≤", "max_regression": "Δ≤"}[self.rule]
        return f"{symbol} {_num(self.threshold)}"


@dataclass(frozen=True)
class Champion:
    version: int
    arn: str
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class ValidationResult:
    """The verdict on one version under one policy."""

    passed: bool
    failed_rules: tuple[str, ...]
    metrics: Mapping[str, float]
    policy_digest: str
    checks: tuple[MetricCheck, ...] = ()
    champion_version: int | None = None
    #: why there are no metrics (None when they were read)
    metrics_problem: str | None = None

    @property
    def status(self) -> Literal["passed", "failed"]:
        return "passed" if self.passed else "failed"

    def metadata(self) -> dict[str, str]:
        """The `CustomerMetadataProperties` stamp (values within SageMaker's pattern and 256 chars)."""
        stamp = {STATUS_KEY: self.status, POLICY_KEY: self.policy_digest}
        if self.failed_rules:
            stamp[FAILED_RULES_KEY] = metadata_value(" / ".join(self.failed_rules))
        key_metrics = self.key_metrics()
        if key_metrics:
            stamp[METRICS_KEY] = metadata_value(" ".join(f"{k}={_num(v)}" for k, v in key_metrics.items()))
        if self.champion_version is not None:
            stamp[CHAMPION_KEY] = str(self.champion_version)
        return stamp

    def key_metrics(self) -> dict[str, float]:
        """The metrics the policy looked at, in rule order."""
        return {c.metric: c.value for c in self.checks if c.value is not None}

    def description(self) -> str:
        """`ApprovalDescription` text: the failed rules (or the pass), with the policy digest."""
        if self.passed:
            text = f"passed validation (policy {self.policy_digest})"
        else:
            text = f"failed validation (policy {self.policy_digest}): " + "; ".join(self.failed_rules)
        return _truncate(text, DESCRIPTION_MAX)


@dataclass(frozen=True)
class ValidationOutcome:
    """What `validate_version` did to one version."""

    action: Literal["skipped", "stamped", "rejected", "approved"]
    detail: str
    result: ValidationResult | None = None
    aws_calls: list[str] = field(default_factory=list)


def evaluate(
    metrics: Mapping[str, float], policy: ValidationPolicy, digest: str, champion: Champion | None = None
) -> ValidationResult:
    """Apply min, max and max_regression rules; every failure is a human sentence."""
    checks: list[MetricCheck] = []
    for name, bound in policy.min.items():
        value = metrics.get(name)
        if value is None:
            checks.append(MetricCheck(name, "min", bound, None, False, f"{name} missing (min {_num(bound)})"))
        else:
            ok = value >= bound - _EPSILON
            op = ">=" if ok else "<"
            checks.append(MetricCheck(name, "min", bound, value, ok, f"{name} {_num(value)} {op} min {_num(bound)}"))
    for name, bound in policy.max.items():
        value = metrics.get(name)
        if value is None:
            checks.append(MetricCheck(name, "max", bound, None, False, f"{name} missing (max {_num(bound)})"))
        else:
            ok = value <= bound + _EPSILON
            op = "<=" if ok else ">"
            checks.append(MetricCheck(name, "max", bound, value, ok, f"{name} {_num(value)} {op} max {_num(bound)}"))
    if champion is not None:
        for name, tolerance in policy.max_regression.items():
            check = _regression(name, tolerance, metrics, champion, lower_is_better=name in policy.max)
            if check is not None:
                checks.append(check)
    failed = tuple(c.text for c in checks if not c.ok)
    return ValidationResult(
        passed=not failed,
        failed_rules=failed,
        metrics=dict(metrics),
        policy_digest=digest,
        checks=tuple(checks),
        champion_version=champion.version if champion else None,
    )


def missing_metrics_result(problem: str, policy: ValidationPolicy, digest: str) -> ValidationResult:
    """No metrics: fail closed, unless the policy says `on_missing_metrics = "pass"`."""
    passed = policy.on_missing_metrics == "pass"
    return ValidationResult(
        passed=passed,
        failed_rules=() if passed else (problem,),
        metrics={},
        policy_digest=digest,
        metrics_problem=problem,
    )


def _held_by_a_person(detail: ModelPackageDetail, package: dict[str, Any], records: GateRecords | None) -> bool:
    """A version a person set back to pending stays there: `auto_approve` never approves it again
    (this event is that change, or the gate recorded such a withdrawal; decision 84)."""
    if detail.approval_changed and not detail.is_creation:
        return True
    return records is not None and records.standing(detail.arn, package.get("CreationTime")) == "withdrawn"


def validate_version(
    detail: ModelPackageDetail,
    project: Project,
    *,
    sagemaker: SageMakerClient | None = None,
    s3: S3Client | None = None,
    champion_finder: ChampionFinder | None = None,
    records: GateRecords | None = None,
    trail: AuditTrail | None = None,
    package: dict[str, Any] | None = None,
    for_approval: bool = False,
) -> ValidationOutcome:
    """Validate one version and record the verdict on it (see the module docstring).

    With `records` the verdict is also kept in the ledger table (the gate's proof: a stamp alone
    proves nothing, a registrant can write any metadata) and with `trail` it is an audit entry.
    `for_approval`: the version is Approved already and the gate found no verdict under the
    current policy (registered Approved, approved before the validator ran, or the policy
    changed): a failure rejects it whatever `auto_reject` says, a pass approves nothing.
    """
    sm = sagemaker or aws.client("sagemaker")
    policy = project.policy.validation
    digest = project.policy.digest()
    calls: list[str] = []

    package = package or _describe(sm, detail.arn, calls)
    status = package.get("ModelApprovalStatus")
    wanted = APPROVED if for_approval else PENDING
    if status != wanted:
        return ValidationOutcome("skipped", f"approval status is {status}, not {wanted}", aws_calls=calls)
    stamp = package.get("CustomerMetadataProperties") or {}
    if (
        not for_approval
        and stamp.get(POLICY_KEY) == digest
        and STATUS_KEY in stamp
        and (records is None or records.validation(detail.arn, digest, created=package.get("CreationTime")) is not None)
    ):
        return ValidationOutcome("skipped", f"already validated under policy {digest}", aws_calls=calls)

    try:
        calls.append("s3:GetObject")
        metrics = load_metrics(package.get("ModelMetrics"), s3)
    except MetricsUnavailableError as exc:
        logger.warning("metrics unavailable", extra={"package_arn": detail.arn, "problem": str(exc)})
        result = missing_metrics_result(str(exc), policy, digest)
    else:
        champion = None
        if policy.max_regression:
            finder = champion_finder or approved_latest(sm, calls)
            champion = _champion(sm, s3, detail, finder, set(policy.max_regression), calls, records)
        result = evaluate(metrics, policy, digest, champion)

    metadata = result.metadata()
    request: dict[str, Any] = {"ModelPackageArn": detail.arn, "CustomerMetadataProperties": metadata}
    # a re-validation must not leave the previous verdict's keys behind (e.g. failed rules on a pass)
    stale = sorted(k for k in stamp if k.startswith(STAMP_PREFIX) and k not in metadata)
    if stale:
        request["CustomerMetadataPropertiesToRemove"] = stale
    action: Literal["stamped", "rejected", "approved"] = "stamped"
    if not result.passed and (policy.auto_reject or for_approval):
        request |= {"ModelApprovalStatus": "Rejected", "ApprovalDescription": result.description()}
        action = "rejected"
    elif result.passed and policy.auto_approve and not for_approval and not _held_by_a_person(detail, package, records):
        request |= {"ModelApprovalStatus": "Approved", "ApprovalDescription": result.description()}
        action = "approved"
    if records is not None:
        # kept before the stamp: a crash in between leaves no stamp, so the retry validates again
        records.put_validation(
            ValidationRecord(
                detail.arn,
                digest,
                result.passed,
                " / ".join(result.failed_rules),
                auto_approved=action == "approved",
                # the whole list (the stamp's copy is cut at 256 characters)
                metrics=" ".join(f"{k}={_num(v)}" for k, v in result.key_metrics().items()),
                created=moment(package.get("CreationTime")),
            )
        )
    if trail is not None:
        trail.record(
            detail.group_name,
            "validated",
            key=version_key("validated", detail.arn, created_of(detail, package), digest),
            created=created_of(detail, package),
            actor=WORKFLOW_ACTOR,
            version=detail.version,
            package_arn=detail.arn,
            reason=result.description(),
            details={
                "result": result.status,
                "policy": digest,
                "failed_rules": " / ".join(result.failed_rules),
                "metrics": " ".join(f"{k}={_num(v)}" for k, v in result.key_metrics().items()),
                "champion": result.champion_version,
                "then": action,
            },
        )
    try:
        calls.append("sagemaker:UpdateModelPackage")
        sm.update_model_package(**request)
    except (ClientError, BotoCoreError) as exc:
        raise aws.as_operation_error("sagemaker:UpdateModelPackage", exc) from exc
    _remember(Champion(detail.version, detail.arn, stamped_metrics(metadata)), moment(package.get("CreationTime")))
    logger.info(
        "version validated",
        extra={
            "package_arn": detail.arn,
            "status": result.status,
            "action": action,
            "failed_rules": list(result.failed_rules),
            "policy": digest,
            "aws_calls": len(calls),
        },
    )
    return ValidationOutcome(action, result.description(), result, calls)


def approved_latest(sm: SageMakerClient, calls: list[str] | None = None) -> ChampionFinder:
    """Champion = the Approved version of the group with the highest version number."""

    def find(group: str, candidate_arn: str) -> ChampionRef | None:
        try:
            if calls is not None:
                calls.append("sagemaker:ListModelPackages")
            response = sm.list_model_packages(
                ModelPackageGroupName=group,
                ModelApprovalStatus="Approved",
                SortBy="CreationTime",
                SortOrder="Descending",
                MaxResults=100,
            )
        except (ClientError, BotoCoreError) as exc:
            raise aws.as_operation_error("sagemaker:ListModelPackages", exc) from exc
        others = [s for s in response.get("ModelPackageSummaryList", []) if s["ModelPackageArn"] != candidate_arn]
        best = max(others, key=lambda s: s.get("ModelPackageVersion", 0), default=None)
        return ChampionRef(best["ModelPackageArn"], moment(best.get("CreationTime"))) if best else None

    return find


def stamped_metrics(metadata: Mapping[str, str] | None) -> dict[str, float]:
    """The key metrics a stamp recorded (`validation.metrics` = "auc=0.91 f1=0.8")."""
    found: dict[str, float] = {}
    for pair in (metadata or {}).get(METRICS_KEY, "").split():
        name, _, raw = pair.partition("=")
        try:
            found[name] = float(raw)
        except ValueError:
            continue  # a value cut short by the 256-character limit
    return found


def metadata_value(text: str) -> str:
    """Fit text into a CustomerMetadataProperties value: SageMaker's characters, ≤ 256 chars."""
    safe = text.replace("<=", " le ").replace(">=", " ge ").replace("<", " lt ").replace(">", " gt ")
    safe = re.sub(r"\s+", " ", _METADATA_UNSAFE.sub(" ", safe)).strip()
    return _truncate(safe, METADATA_VALUE_MAX, ellipsis="...") or "-"


# --- details ----------------------------------------------------------------------------------


def describe_version(arn: str, sagemaker: SageMakerClient | None = None) -> dict[str, Any]:
    """DescribeModelPackage of one version (an AWS fault raises `AwsOperationError`)."""
    return _describe(sagemaker or aws.client("sagemaker"), arn, [])


def _describe(sm: SageMakerClient, arn: str, calls: list[str]) -> dict[str, Any]:
    try:
        calls.append("sagemaker:DescribeModelPackage")
        return dict(sm.describe_model_package(ModelPackageName=arn))
    except (ClientError, BotoCoreError) as exc:
        raise aws.as_operation_error("sagemaker:DescribeModelPackage", exc) from exc


#: (champion ARN, its CreationTime) → its metrics. A version's metrics never change, so a warm
#: container skips the champion's lookup for every later candidate of the group; the CreationTime
#: tells a recreated group's v1 from the deleted one under the same ARN.
_CHAMPIONS: dict[tuple[str, datetime | None], Champion] = {}
_CHAMPIONS_MAX = 256


def forget_champions() -> None:
    """Empty the champion cache (a stand-in account that is reset reuses ARNs; AWS never does)."""
    _CHAMPIONS.clear()


def _champion(
    sm: SageMakerClient,
    s3: S3Client | None,
    detail: ModelPackageDetail,
    finder: ChampionFinder,
    needed: set[str],
    calls: list[str],
    records: GateRecords | None = None,
) -> Champion | None:
    found = finder(detail.group_name, detail.arn)
    if found is None:
        logger.info("no champion: regression rules skipped", extra={"group": detail.group_name})
        return None
    arn, created = found
    cached = _CHAMPIONS.get((arn, created))
    if cached is not None and needed <= set(cached.metrics):
        return cached
    known = _verdict_metrics(records, arn, created) if records is not None else {}
    version = _version_of(arn)
    if needed <= set(known) and version is not None:
        # the workflow's own verdict on the champion holds the metrics it looked at: read there
        # (DynamoDB, written only by the validator), not with a DescribeModelPackage
        champion = Champion(version, arn, known)
        _remember(champion, created)
        return champion
    package = _describe(sm, arn, calls)
    # the champion's own stamp holds the metrics its validation looked at: no S3 read when it
    # covers the regression rules (a stamp from an older policy may not)
    metrics = stamped_metrics(package.get("CustomerMetadataProperties"))
    if not needed <= set(metrics):
        try:
            calls.append("s3:GetObject")
            metrics = load_metrics(package.get("ModelMetrics"), s3)
        except MetricsUnavailableError as exc:
            # the champion's metrics are gone: nothing to regress against, say so and go on
            logger.warning("champion metrics unavailable", extra={"champion_arn": arn, "problem": str(exc)})
            return None
    champion = Champion(int(package.get("ModelPackageVersion", 0)), arn, metrics)
    _remember(champion, created)
    return champion


def _verdict_metrics(records: GateRecords, arn: str, created: datetime | None) -> dict[str, float]:
    """The key metrics of the newest verdict kept on this version since it was created.

    A verdict older than the version is another version's under the same ARN (its group was
    deleted and created again): never trusted. Without a creation time, none is.
    """
    if created is None:
        return {}
    kept = records.validated_metrics(arn, created)
    return stamped_metrics({METRICS_KEY: max(kept)[1]}) if kept else {}


def _version_of(arn: str) -> int | None:
    """A version's number from its ARN (`…:model-package/<group>/<version>`)."""
    tail = arn.rsplit("/", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() else None


def _remember(version: Champion, created: datetime | None) -> None:
    """Keep a version's metrics: a champion's, or a version this container just stamped.

    A stamped version is the next champion once approved, and the metrics kept are exactly what
    its stamp says (what its `DescribeModelPackage` would give), so the first candidate after it
    in this container skips that Describe too.
    """
    if not version.metrics:
        return
    if len(_CHAMPIONS) >= _CHAMPIONS_MAX:
        _CHAMPIONS.clear()
    _CHAMPIONS[(version.arn, created)] = version


def _regression(
    name: str, tolerance: float, metrics: Mapping[str, float], champion: Champion, *, lower_is_better: bool
) -> MetricCheck | None:
    best = champion.metrics.get(name)
    if best is None:
        return None
    value = metrics.get(name)
    where = f"champion v{champion.version} ({_num(best)})"
    if value is None:
        return MetricCheck(name, "max_regression", tolerance, None, False, f"{name} missing (compared with {where})")
    change = value - best if lower_is_better else best - value
    ok = change <= tolerance + _EPSILON
    direction = "rose" if lower_is_better else "dropped"
    text = f"{name} {_num(value)} {direction} {_num(max(change, 0.0))} vs {where}, max regression {_num(tolerance)}"
    return MetricCheck(name, "max_regression", tolerance, value, ok, text)


def _num(value: float) -> str:
    return format(value, ".4g")


def _truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(ellipsis)] + ellipsis
