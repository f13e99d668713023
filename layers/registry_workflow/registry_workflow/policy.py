"""Per-project policy: validation thresholds, deploy target and rollout, notification channel.

The one home of every policy knob. `config/policy.toml` holds a `[defaults]` table and one
`[projects."<team>-<project>"]` table per project that overrides it; every key is documented in
README.md ("Configuration reference"). Unknown keys are errors, so a typo never silently falls
back to a default.

The policy classes are validated from declarative field tables (below; checks.py): a table that is
plainly valid (exact TOML types, within the constraints, nothing to coerce or strip: every deployed
policy) is validated in plain Python; anything else goes to pydantic-core, imported then, with the
core schemas the same tables describe (what `pydantic.BaseModel` generated from the same fields,
constraints and validators). So values, coercion and error reports (`type`, `loc`, `ctx`, `msg`: what
config.py turns into policy.toml's words) are pydantic's, and a handler's init imports neither the
pydantic package nor pydantic-core (docs/performance.md). The classes keep the part of BaseModel's
interface the code uses: keyword construction (validated), `model_validate`, `model_dump`,
`model_copy`, `model_fields`; instances are read-only. A refusal raises `ValidationError`
(checks.Invalid: pydantic-core's error entries, `errors()`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Self

from registry_workflow.checks import (
    After,
    Bool,
    DictOf,
    Field,
    Float,
    Int,
    Invalid,
    ListOf,
    Model,
    Nullable,
    OneOf,
    Refusal,
    Spec,
    Str,
    Validated,
)

#: unknown keys are errors; NaN and infinity are no threshold (every comparison with NaN fails).
#: The config loader also validates with strict=True: `true` is no number, "2" no integer.
_STRICT = {"extra_fields_behavior": "forbid", "str_strip_whitespace": True, "allow_inf_nan": False}

#: what a refused policy raises: pydantic's error entries (`errors()`), as config.py reads them
ValidationError = Invalid

#: SageMaker's name rule; the pattern alone does not bound hyphenated names, so check len ≤ 63 too
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"


class PolicyModel(Validated):
    """A validated policy table (read-only: checks.Validated)."""

    __slots__ = ()

    #: the keys of the table, in order
    model_fields: ClassVar[tuple[str, ...]] = ()
    #: key → the policy class its value holds, and whether inside a list or table (config.py's messages)
    nested: ClassVar[dict[str, tuple[type[PolicyModel], bool]]] = {}
    #: the keys' types, constraints and defaults, and the class's rules (checks.py)
    spec: ClassVar[Model]

    def __init__(self, **data: Any) -> None:
        type(self).spec.validate(data, instance=self)

    @classmethod
    def model_validate(cls, data: Any, *, strict: bool | None = None) -> Self:
        """A validated instance, or `ValidationError` (checks.Invalid) with pydantic's error entries."""
        validated: Self = cls.spec.validate(data, strict=strict)
        return validated

    def model_dump(self, *, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """The table as plain data (lists, tables, strings, numbers, booleans: the same in both modes)."""
        return {name: _dump(getattr(self, name)) for name in self.model_fields}

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A copy with `update`'s values, not validated (as BaseModel.model_copy)."""
        copy = object.__new__(type(self))
        object.__setattr__(copy, "__dict__", {**self.__dict__, **(update or {})})
        return copy

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))


def _dump(value: Any) -> Any:
    if isinstance(value, PolicyModel):
        return value.model_dump()
    if isinstance(value, list | tuple):
        return [_dump(item) for item in value]
    if isinstance(value, dict):
        return {key: _dump(item) for key, item in value.items()}
    return value


class ValidationPolicy(PolicyModel):
    """How a new version is judged before a person reviews it."""

    #: metric → lowest acceptable value (metric >= value)
    min: dict[str, float]
    #: metric → highest acceptable value (metric <= value)
    max: dict[str, float]
    #: metric → largest allowed drop against the champion, the group's highest Approved version
    #: (direction: metrics named in `max` are lower-is-better, all others higher-is-better)
    max_regression: dict[str, float]
    #: what a version without readable metrics gets: "reject" (fail closed) or "pass"
    on_missing_metrics: Literal["reject", "pass"]
    #: reject a failing version automatically (with the failed rules as the description)
    auto_reject: bool
    #: approve a passing version automatically (off: a person approves)
    auto_approve: bool


class DeployPolicy(PolicyModel):
    """Where and how an approved version goes live."""

    enabled: bool
    #: endpoint name; empty means "<group>-endpoint" (shortened to 63 characters)
    endpoint_name: str
    instance_type: str
    instance_count: int
    variant_name: str
    strategy: Literal["all-at-once", "canary", "linear"]
    #: canary: share of capacity that takes traffic first; linear: share per step (percent)
    traffic_percent: int
    #: seconds to watch each traffic step before the next
    wait_seconds: int
    #: alarms whose ALARM state rolls the update back (CloudWatch names, at most 10)
    rollback_alarms: list[str]
    #: create per-endpoint 5XX and latency alarms and use them for auto-rollback
    create_alarms: bool
    max_execution_timeout_seconds: int
    #: SageMaker execution role for the model; empty means the stack's default role
    execution_role_arn: str
    #: a rejected live version with no earlier approved version to roll back to: "keep" it serving
    #: (people are told), or "delete" the endpoint (its created alarms too)
    on_reject_without_fallback: Literal["keep", "delete"]


def _guardrails_fit_the_fleet(policy: DeployPolicy) -> DeployPolicy:
    # SageMaker: a canary is at most 50% of the variant's instances, a linear step 10-50%;
    # on one instance any share rounds up to the whole fleet and UpdateEndpoint refuses it
    if policy.strategy != "all-at-once" and policy.instance_count < 2:
        raise Refusal(
            "fleet_too_small",
            "is {count}: strategy {strategy} needs at least 2 instances (a canary or linear step is at most "
            "half the fleet; on one instance SageMaker refuses the update); use 2 or more, or strategy "
            '"all-at-once"',
            {"field": "instance_count", "count": policy.instance_count, "strategy": f'"{policy.strategy}"'},
        )
    if policy.strategy == "linear" and policy.traffic_percent < 10:
        raise Refusal(
            "linear_step_too_small",
            "is {percent}: a linear step is 10-50 percent of the fleet",
            {"field": "traffic_percent", "percent": policy.traffic_percent},
        )
    return policy


#: a stage takes every deploy key of its project except these (each stage has its own endpoint)
NOT_INHERITED_BY_STAGES = frozenset({"enabled", "endpoint_name"})
#: stages per project: each is an endpoint with its own instances
MAX_STAGES = 5


class StagePolicy(DeployPolicy):
    """One stage of a staged project (`[[projects."<group>".stages]]`): a deploy policy with a name.

    Keys it does not set come from the project's `deploy` table (but not `endpoint_name` or
    `enabled`). Its endpoint is `endpoint_name`, else `<group>-<name>`.
    """

    name: str
    #: minutes the version must have served here, with none of its alarms in ALARM, before the
    #: next stage accepts it (at most a week)
    soak_minutes: int
    #: only a team's promoter may ask for this stage (the stack's GuardedStages, which `make deploy`
    #: derives from these); unset, a project's last stage is guarded and the others are not
    guarded: bool | None


def _no_enabled(data: object) -> object:
    if isinstance(data, dict) and "enabled" in data:
        raise Refusal(
            "stage_enabled",
            "a stage has no enabled key: deploy.enabled = false turns the whole project's deployment off",
            {"field": "enabled"},
        )
    return data


class NotifyPolicy(PolicyModel):
    """Where messages about a project go; empty means the stack's defaults."""

    sns_topic_arn: str
    #: Secrets Manager id of the Slack incoming-webhook URL; empty means the stack's default
    slack_secret_id: str
    #: turn a channel off for this project
    sns: bool
    slack: bool


#: an IAM principal ARN pattern: `*` matches any run of characters, `?` one character
ARN_PATTERN = r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*|\?+):[!-~]+$"


#: a Slack user id: U… (W… on Enterprise Grid)
SLACK_USER_PATTERN = r"^[UW][A-Z0-9]{2,31}$"


class SlackApprover(PolicyModel):
    """A Slack user who may approve or reject in Slack; `"U…"` alone, or a table with the IAM identities."""

    user: str
    #: ARN patterns of the IAM identities this person registers versions with: their Slack approval of
    #: a version one of these registered is a self-approval (the four-eyes rule, where it is known)
    iam: list[str]


def _user_alone(data: object) -> object:
    return {"user": data} if isinstance(data, str) else data


class ApprovalPolicy(PolicyModel):
    """Who may approve a version for deployment: the gate's second lock (README, "The gate")."""

    #: the identity that approved must differ from the one that registered (four eyes)
    distinct_approver: bool
    #: IAM role/user ARN patterns allowed to approve (empty: anyone who may call UpdateModelPackage).
    #: An assumed-role session matches by its role ARN (`arn:aws:iam::<account>:role/<name>`) or its
    #: session ARN (`arn:aws:sts::<account>:assumed-role/<name>/<session>`).
    approvers: list[str]
    #: Approve/Reject buttons on the project's Slack messages (registry_workflow.chat_approvals)
    slack: bool
    #: team → the Slack users who may decide for its projects in Slack (README, "Approving in Slack")
    slack_approvers: dict[str, list[SlackApprover]]


class ProjectPolicy(PolicyModel):
    """Everything a project can decide about its own versions."""

    validation: ValidationPolicy
    approval: ApprovalPolicy
    deploy: DeployPolicy
    #: staged promotion: the ordered stages a version goes through (empty: one stage, `deploy`)
    stages: list[StagePolicy]
    notify: NotifyPolicy

    def digest(self) -> str:
        """A short, stable hash of the policy; stamped on each version it judged."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _stages_inherit_deploy(data: object) -> object:
    """Each stage starts from the project's deploy keys (not its endpoint), then its own win."""
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
        return data
    deploy = data.get("deploy")
    deploy = deploy if isinstance(deploy, dict) else {}
    inherited = {k: v for k, v in deploy.items() if k not in NOT_INHERITED_BY_STAGES}
    stages = [merge(inherited, stage) if isinstance(stage, dict) else stage for stage in data["stages"]]
    return {**data, "stages": stages}


def _distinct_stages(value: list[StagePolicy]) -> list[StagePolicy]:
    names = [stage.name for stage in value]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise Refusal(
            "stage_repeated", 'stage "{stage}" is listed twice: stage names are distinct', {"stage": repeated[0]}
        )
    if len(value) == 1:
        raise Refusal(
            "one_stage",
            "lists one stage: staged promotion needs two or more (one stage is the project's deploy table)",
        )
    endpoints = [s.endpoint_name for s in value if s.endpoint_name]
    shared = sorted({e for e in endpoints if endpoints.count(e) > 1})
    if shared:
        raise Refusal(
            "stage_endpoint_shared",
            'endpoint "{endpoint}" is used by two stages: each stage has its own endpoint',
            {"endpoint": shared[0]},
        )
    return value


def _not_both_directions(value: ValidationPolicy) -> ValidationPolicy:
    both = sorted(set(value.min) & set(value.max))
    if both:
        raise Refusal(
            "both_directions",
            'metric "{metric}" is in both min and max: a metric is either higher-is-better (min) or '
            "lower-is-better (max)",
            {"metric": both[0]},
        )
    return value


def merge(base: dict, override: dict) -> dict:
    """Deep-merge two policy tables; the override wins key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# --- the field tables -----------------------------------------------------------------------------
# One entry per key, in the classes' order: its type and constraints (checks.py), its default (a value,
# or a factory: `list`, `dict`, a policy class; none: the key is required). Model rules run as
# pydantic's validators did: "before" ones on the raw table (inside the model), "after" ones on the
# instance. Every table is config `_STRICT`: strings stripped, unknown keys refused.


def _complete(
    cls: type[PolicyModel],
    fields: dict[str, Field],
    *,
    before: Callable[[Any], Any] | None = None,
    after: Callable[[Any], Any] | None = None,
) -> None:
    cls.model_fields = tuple(fields)
    cls.nested = {name: found for name, field in fields.items() if (found := _policy_class_in(field.spec))}
    config = {**_STRICT, "title": cls.__name__}
    cls.spec = Model(cls, fields, extra="forbid", config=config, strip=True, before=before, after=after)


def _policy_class_in(spec: Spec, in_container: bool = False) -> tuple[type[PolicyModel], bool] | None:
    """The policy class a key's spec holds, and whether inside a list or table (`ListOf(StagePolicy)`)."""
    if isinstance(spec, Model):
        return spec.cls, in_container
    if isinstance(spec, ListOf):
        return _policy_class_in(spec.item, True)
    if isinstance(spec, DictOf):
        return _policy_class_in(spec.value, True)
    inner = getattr(spec, "inner", None)  # After, Before, Nullable: the same key, checked more
    return _policy_class_in(inner, in_container) if isinstance(inner, Spec) else None


def _name(max_length: int = 63, *, empty: bool = False) -> Str:
    return Str(pattern=("^$|" if empty else "") + NAME_PATTERN, max_length=max_length)


def _metrics() -> DictOf:
    return DictOf(Str(), Float())


def _arns() -> ListOf:
    return ListOf(Str(pattern=ARN_PATTERN, max_length=2048))


_complete(
    ValidationPolicy,
    {
        "min": Field(_metrics(), factory=dict),
        "max": Field(_metrics(), factory=dict),
        "max_regression": Field(DictOf(Str(), Float(ge=0)), factory=dict),
        "on_missing_metrics": Field(OneOf("reject", "pass"), "reject"),
        "auto_reject": Field(Bool(), True),
        "auto_approve": Field(Bool(), False),
    },
)


def _deploy_fields() -> dict[str, Field]:
    return {
        "enabled": Field(Bool(), True),
        "endpoint_name": Field(_name(empty=True), ""),
        "instance_type": Field(Str(), "ml.m5.large"),
        "instance_count": Field(Int(ge=1, le=100), 1),
        "variant_name": Field(_name(), "AllTraffic"),
        "strategy": Field(OneOf("all-at-once", "canary", "linear"), "all-at-once"),
        "traffic_percent": Field(Int(ge=1, le=50), 10),
        "wait_seconds": Field(Int(ge=0, le=3600), 300),
        "rollback_alarms": Field(ListOf(Str(), max_length=10), factory=list),
        "create_alarms": Field(Bool(), True),
        "max_execution_timeout_seconds": Field(Int(ge=600, le=28800), 3600),
        "execution_role_arn": Field(Str(), ""),
        "on_reject_without_fallback": Field(OneOf("keep", "delete"), "keep"),
    }


_complete(DeployPolicy, _deploy_fields(), after=_guardrails_fit_the_fleet)
_complete(
    StagePolicy,
    {
        **_deploy_fields(),
        "name": Field(_name()),
        "soak_minutes": Field(Int(ge=0, le=10080), 0),
        "guarded": Field(Nullable(Bool()), None),
    },
    before=_no_enabled,
    after=_guardrails_fit_the_fleet,
)
_complete(
    NotifyPolicy,
    {
        "sns_topic_arn": Field(Str(), ""),
        "slack_secret_id": Field(Str(), ""),
        "sns": Field(Bool(), True),
        "slack": Field(Bool(), True),
    },
)
_complete(
    SlackApprover,
    {"user": Field(Str(pattern=SLACK_USER_PATTERN)), "iam": Field(_arns(), factory=list)},
    before=_user_alone,
)
_complete(
    ApprovalPolicy,
    {
        "distinct_approver": Field(Bool(), True),
        "approvers": Field(_arns(), factory=list),
        "slack": Field(Bool(), False),
        "slack_approvers": Field(DictOf(Str(), ListOf(SlackApprover.spec)), factory=dict),
    },
)
_complete(
    ProjectPolicy,
    {
        "validation": Field(After(ValidationPolicy.spec, _not_both_directions), factory=ValidationPolicy),
        "approval": Field(ApprovalPolicy.spec, factory=ApprovalPolicy),
        "deploy": Field(DeployPolicy.spec, factory=DeployPolicy),
        "stages": Field(After(ListOf(StagePolicy.spec, max_length=MAX_STAGES), _distinct_stages), factory=list),
        "notify": Field(NotifyPolicy.spec, factory=NotifyPolicy),
    },
    before=_stages_inherit_deploy,
)
