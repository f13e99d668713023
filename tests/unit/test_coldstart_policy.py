"""The policy's core-schema validators against the pydantic models they replaced (issue 14, cold start).

`registry_workflow.policy` no longer imports pydantic or builds models at import: it validates with
pydantic-core schemas written out by hand. The models below are the former ones, verbatim (under
their names: error messages name the class), kept here as the oracle. On policy tables built from
every key, good and bad values (fixed seed), both must accept the same tables with the same values
and digest, and refuse the same tables with the same errors (what config.py turns into messages).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from registry_workflow import policy

# --- the former models ----------------------------------------------------------------------------

#: unknown keys are errors; NaN and infinity are no threshold (every comparison with NaN fails).
#: The config loader also validates with strict=True: `true` is no number, "2" no integer.
_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False)

#: SageMaker's name rule; the pattern alone does not bound hyphenated names, so check len ≤ 63 too
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"


class ValidationPolicy(BaseModel):
    """How a new version is judged before a person reviews it."""

    model_config = _STRICT

    #: metric → lowest acceptable value (metric >= value)
    min: dict[str, float] = Field(default_factory=dict)
    #: metric → highest acceptable value (metric <= value)
    max: dict[str, float] = Field(default_factory=dict)
    #: metric → largest allowed drop against the champion, the group's highest Approved version
    #: (direction: metrics named in `max` are lower-is-better, all others higher-is-better)
    max_regression: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    #: what a version without readable metrics gets: "reject" (fail closed) or "pass"
    on_missing_metrics: Literal["reject", "pass"] = "reject"
    #: reject a failing version automatically (with the failed rules as the description)
    auto_reject: bool = True
    #: approve a passing version automatically (off: a person approves)
    auto_approve: bool = False


class DeployPolicy(BaseModel):
    """Where and how an approved version goes live."""

    model_config = _STRICT

    enabled: bool = True
    #: endpoint name; empty means "<group>-endpoint" (shortened to 63 characters)
    endpoint_name: Annotated[str, Field(pattern=r"^$|" + NAME_PATTERN, max_length=63)] = ""
    instance_type: str = "ml.m5.large"
    instance_count: Annotated[int, Field(ge=1, le=100)] = 1
    variant_name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)] = "AllTraffic"
    strategy: Literal["all-at-once", "canary", "linear"] = "all-at-once"
    #: canary: share of capacity that takes traffic first; linear: share per step (percent)
    traffic_percent: Annotated[int, Field(ge=1, le=50)] = 10
    #: seconds to watch each traffic step before the next
    wait_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    #: alarms whose ALARM state rolls the update back (CloudWatch names, at most 10)
    rollback_alarms: Annotated[list[str], Field(max_length=10)] = Field(default_factory=list)
    #: create per-endpoint 5XX and latency alarms and use them for auto-rollback
    create_alarms: bool = True
    max_execution_timeout_seconds: Annotated[int, Field(ge=600, le=28800)] = 3600
    #: SageMaker execution role for the model; empty means the stack's default role
    execution_role_arn: str = ""
    #: a rejected live version with no earlier approved version to roll back to: "keep" it serving
    #: (people are told), or "delete" the endpoint (its created alarms too)
    on_reject_without_fallback: Literal["keep", "delete"] = "keep"

    @model_validator(mode="after")
    def _guardrails_fit_the_fleet(self) -> DeployPolicy:
        # SageMaker: a canary is at most 50% of the variant's instances, a linear step 10-50%;
        # on one instance any share rounds up to the whole fleet and UpdateEndpoint refuses it
        if self.strategy != "all-at-once" and self.instance_count < 2:
            raise PydanticCustomError(
                "fleet_too_small",
                "is {count}: strategy {strategy} needs at least 2 instances (a canary or linear step is at most "
                "half the fleet; on one instance SageMaker refuses the update); use 2 or more, or strategy "
                '"all-at-once"',
                {"field": "instance_count", "count": self.instance_count, "strategy": f'"{self.strategy}"'},
            )
        if self.strategy == "linear" and self.traffic_percent < 10:
            raise PydanticCustomError(
                "linear_step_too_small",
                "is {percent}: a linear step is 10-50 percent of the fleet",
                {"field": "traffic_percent", "percent": self.traffic_percent},
            )
        return self


#: a stage takes every deploy key of its project except these (each stage has its own endpoint)
NOT_INHERITED_BY_STAGES = frozenset({"enabled", "endpoint_name"})
#: stages per project: each is an endpoint with its own instances
MAX_STAGES = 5


class StagePolicy(DeployPolicy):
    """One stage of a staged project (`[[projects."<group>".stages]]`): a deploy policy with a name.

    Keys it does not set come from the project's `deploy` table (but not `endpoint_name` or
    `enabled`). Its endpoint is `endpoint_name`, else `<group>-<name>`.
    """

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
    #: minutes the version must have served here, with none of its alarms in ALARM, before the
    #: next stage accepts it (at most a week)
    soak_minutes: Annotated[int, Field(ge=0, le=10080)] = 0
    guarded: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_enabled(cls, data: object) -> object:
        if isinstance(data, dict) and "enabled" in data:
            raise PydanticCustomError(
                "stage_enabled",
                "a stage has no enabled key: deploy.enabled = false turns the whole project's deployment off",
                {"field": "enabled"},
            )
        return data


class NotifyPolicy(BaseModel):
    """Where messages about a project go; empty means the stack's defaults."""

    model_config = _STRICT

    sns_topic_arn: str = ""
    #: Secrets Manager id of the Slack incoming-webhook URL; empty means the stack's default
    slack_secret_id: str = ""
    #: turn a channel off for this project
    sns: bool = True
    slack: bool = True


#: an IAM principal ARN pattern: `*` matches any run of characters, `?` one character
ARN_PATTERN = r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*|\?+):[!-~]+$"


#: a Slack user id: U… (W… on Enterprise Grid)
SLACK_USER_PATTERN = r"^[UW][A-Z0-9]{2,31}$"


class SlackApprover(BaseModel):
    """A Slack user who may approve or reject in Slack; `"U…"` alone, or a table with the IAM identities."""

    model_config = _STRICT

    user: Annotated[str, Field(pattern=SLACK_USER_PATTERN)]
    #: ARN patterns of the IAM identities this person registers versions with: their Slack approval of
    #: a version one of these registered is a self-approval (the four-eyes rule, where it is known)
    iam: list[Annotated[str, Field(pattern=ARN_PATTERN, max_length=2048)]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _user_alone(cls, data: object) -> object:
        return {"user": data} if isinstance(data, str) else data


class ApprovalPolicy(BaseModel):
    """Who may approve a version for deployment: the gate's second lock (README, "The gate")."""

    model_config = _STRICT

    #: the identity that approved must differ from the one that registered (four eyes)
    distinct_approver: bool = True
    #: IAM role/user ARN patterns allowed to approve (empty: anyone who may call UpdateModelPackage).
    #: An assumed-role session matches by its role ARN (`arn:aws:iam::<account>:role/<name>`) or its
    #: session ARN (`arn:aws:sts::<account>:assumed-role/<name>/<session>`).
    approvers: list[Annotated[str, Field(pattern=ARN_PATTERN, max_length=2048)]] = Field(default_factory=list)
    #: Approve/Reject buttons on the project's Slack messages (registry_workflow.chat_approvals)
    slack: bool = False
    #: team → the Slack users who may decide for its projects in Slack (README, "Approving in Slack")
    slack_approvers: dict[str, list[SlackApprover]] = Field(default_factory=dict)


class ProjectPolicy(BaseModel):
    """Everything a project can decide about its own versions."""

    model_config = _STRICT

    validation: ValidationPolicy = Field(default_factory=ValidationPolicy)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    deploy: DeployPolicy = Field(default_factory=DeployPolicy)
    #: staged promotion: the ordered stages a version goes through (empty: one stage, `deploy`)
    stages: Annotated[list[StagePolicy], Field(max_length=MAX_STAGES)] = Field(default_factory=list)
    notify: NotifyPolicy = Field(default_factory=NotifyPolicy)

    @model_validator(mode="before")
    @classmethod
    def _stages_inherit_deploy(cls, data: object) -> object:
        """Each stage starts from the project's deploy keys (not its endpoint), then its own win."""
        if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
            return data
        deploy = data.get("deploy")
        deploy = deploy if isinstance(deploy, dict) else {}
        inherited = {k: v for k, v in deploy.items() if k not in NOT_INHERITED_BY_STAGES}
        stages = [policy.merge(inherited, stage) if isinstance(stage, dict) else stage for stage in data["stages"]]
        return {**data, "stages": stages}

    @field_validator("stages")
    @classmethod
    def _distinct_stages(cls, value: list[StagePolicy]) -> list[StagePolicy]:
        names = [stage.name for stage in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise PydanticCustomError(
                "stage_repeated", 'stage "{stage}" is listed twice: stage names are distinct', {"stage": repeated[0]}
            )
        if len(value) == 1:
            raise PydanticCustomError(
                "one_stage",
                "lists one stage: staged promotion needs two or more (one stage is the project's deploy table)",
            )
        endpoints = [s.endpoint_name for s in value if s.endpoint_name]
        shared = sorted({e for e in endpoints if endpoints.count(e) > 1})
        if shared:
            raise PydanticCustomError(
                "stage_endpoint_shared",
                'endpoint "{endpoint}" is used by two stages: each stage has its own endpoint',
                {"endpoint": shared[0]},
            )
        return value

    @field_validator("validation")
    @classmethod
    def _not_both_directions(cls, value: ValidationPolicy) -> ValidationPolicy:
        both = sorted(set(value.min) & set(value.max))
        if both:
            raise PydanticCustomError(
                "both_directions",
                'metric "{metric}" is in both min and max: a metric is either higher-is-better (min) or '
                "lower-is-better (max)",
                {"metric": both[0]},
            )
        return value

    def digest(self) -> str:
        """A short, stable hash of the policy; stamped on each version it judged."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


# --- the comparison ---------------------------------------------------------------------------------


def errors(exc: Any) -> list[tuple[Any, ...]]:
    return [(e["type"], e["loc"], e["msg"], repr(e.get("ctx")), repr(e.get("input"))) for e in exc.errors()]


def old_outcome(table: Any, strict: bool) -> tuple[str, Any]:
    try:
        parsed = ProjectPolicy.model_validate(table, strict=strict)
    except ValidationError as exc:
        return "refused", errors(exc)
    return "ok", (parsed.model_dump(mode="json"), parsed.digest())


def new_outcome(table: Any, strict: bool) -> tuple[str, Any]:
    try:
        parsed = policy.ProjectPolicy.model_validate(table, strict=strict)
    except policy.ValidationError as exc:
        return "refused", errors(exc)
    return "ok", (parsed.model_dump(mode="json"), parsed.digest())


def same(table: Any) -> None:
    for strict in (True, False):
        assert new_outcome(table, strict) == old_outcome(table, strict), (strict, table)


EXAMPLES: list[Any] = [
    {},
    {"validation": {"min": {"auc": 0.8, "accuracy": 0.85}, "max_regression": {"auc": 0.02}}},
    {"deploy": {"strategy": "canary", "traffic_percent": 10, "wait_seconds": 300, "instance_count": 2}},
    {"deploy": {"strategy": "canary"}},
    {"deploy": {"strategy": "linear", "instance_count": 4, "traffic_percent": 5}},
    {"deploy": {"instance_count": "2", "endpoint_name": " rc-x "}},
    {"validation": {"min": {"x": 1}, "max": {"x": 2}}},
    {"validation": {"min": {"a": float("nan")}, "max_regression": {"a": -1.0}}},
    {"stages": [{"name": "a"}]},
    {"stages": [{"name": "a", "enabled": True}, {"name": "b"}]},
    {"stages": [{"name": "a"}, {"name": "a"}]},
    {"stages": [{"name": "a", "endpoint_name": "rc-e"}, {"name": "b", "endpoint_name": "rc-e"}]},
    {
        "deploy": {"instance_count": 2, "strategy": "canary"},
        "stages": [{"name": "s"}, {"name": "p", "soak_minutes": 30}],
    },
    {"stages": [{"name": str(i)} for i in range(6)]},
    {
        "approval": {
            "slack": True,
            "slack_approvers": {"rc": ["U0123ABC", {"user": "W999", "iam": ["arn:aws:iam::*:user/a"]}]},
        }
    },
    {"approval": {"slack_approvers": {"rc": [5, "u1", {"user": "U12", "x": 1}]}, "approvers": ["nope"]}},
    {"notify": {"sns": False, "slack_secret_id": "  s  "}, "zzz": 1, "deploy": 3},
    {"deploy": {"rollback_alarms": [str(i) for i in range(11)], "max_execution_timeout_seconds": 10}},
    [],
    "text",
    None,
    # lone surrogates (JSON's "\\ud800"; Hypothesis's text has none): strings pydantic-core cannot always read
    {"deploy": {"instance_type": "x\ud800"}, "notify": {"slack_secret_id": "x\ud800"}},
    {"validation": {"min": {"x\ud800": 1.0}}},
    {"x\ud800": 1},
    {"deploy": {"x\ud800": 1}},
    {"deploy": {"rollback_alarms": ["x\ud800"]}},
    {"approval": {"slack_approvers": {"x\ud800": ["U123"]}, "approvers": ["arn:aws:iam::*:user/\ud800"]}},
    {"stages": [{"name": "a", "instance_type": "x\ud800"}, {"name": "b"}]},
]


@pytest.mark.parametrize("table", EXAMPLES)
def test_examples_validate_as_before(table: Any) -> None:
    same(table)


# every key of every table, with good and bad values of every JSON/TOML type
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.sampled_from([0, 1, 2, 10, 50, 600, 3600, 28800, 28801, 10081, 2.0, 0.5, -0.1, float("nan"), float("inf")]),
    st.sampled_from(["", " x ", "rc-endpoint", "canary", "linear", "all-at-once", "reject", "pass", "keep", "delete"]),
    st.sampled_from(["U0123ABC", "w1", "arn:aws:iam::123456789012:role/a", "arn:aws:sts::*:assumed-role/r/s", "2"]),
    st.text(max_size=6),
)
METRICS = st.dictionaries(st.sampled_from(["auc", "f1", "rmse", ""]), VALUES, max_size=3)
LISTS = st.lists(VALUES, max_size=3)


def table_of(keys: dict[str, Any]) -> Any:
    return st.dictionaries(st.sampled_from(sorted(keys)), st.one_of(*keys.values()), max_size=5)


DEPLOY_KEYS = {name: VALUES for name in policy.DeployPolicy.model_fields} | {"rollback_alarms": LISTS, "zz": VALUES}
VALIDATION_KEYS = {"min": METRICS, "max": METRICS, "max_regression": METRICS, "on_missing_metrics": VALUES}
APPROVER = st.one_of(VALUES, table_of({"user": VALUES, "iam": LISTS, "other": VALUES}))
APPROVAL_KEYS = {
    "distinct_approver": VALUES,
    "approvers": LISTS,
    "slack": VALUES,
    "slack_approvers": st.dictionaries(st.sampled_from(["rc", "algo"]), st.lists(APPROVER, max_size=2) | VALUES),
}
STAGE = table_of({**DEPLOY_KEYS, "name": VALUES, "soak_minutes": VALUES, "guarded": VALUES})
TABLES = table_of(
    {
        "validation": table_of(VALIDATION_KEYS) | VALUES,
        "deploy": table_of(DEPLOY_KEYS) | VALUES,
        "approval": table_of(APPROVAL_KEYS),
        "notify": table_of({name: VALUES for name in policy.NotifyPolicy.model_fields}),
        "stages": st.lists(STAGE, max_size=3) | VALUES,
        "extra": VALUES,
    }
)


@settings(max_examples=1500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TABLES)
def test_generated_tables_validate_as_before(table: Any) -> None:
    same(table)


def test_keyword_construction_validates_as_before() -> None:
    assert policy.DeployPolicy(instance_count="2").instance_count == DeployPolicy(instance_count="2").instance_count
    with pytest.raises(policy.ValidationError) as new:
        policy.DeployPolicy(strategy="canary")
    with pytest.raises(ValidationError) as old:
        DeployPolicy(strategy="canary")
    assert errors(new.value) == errors(old.value)


def test_policies_are_read_only_and_copied_with_updates() -> None:
    approval = policy.ApprovalPolicy(slack=True)
    with pytest.raises(AttributeError):
        approval.slack = False  # type: ignore[misc]
    off = approval.model_copy(update={"slack": False})
    assert (off.slack, approval.slack, off.distinct_approver) == (False, True, True)
    assert policy.ApprovalPolicy() == off != approval


FUNCTIONS = sorted(p.parent for p in (Path(__file__).resolve().parents[2] / "functions").glob("*/app.py"))
_LOADED = "import sys; print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'pydantic_core'}))"


def test_no_pydantic_model_is_built_by_the_policy_module() -> None:
    """The point of the change: importing the policy and the events (as every handler does) needs neither
    the pydantic package nor pydantic-core (imported only to judge a value the plain checks cannot)."""
    code = f"import registry_workflow.config, registry_workflow.events; {_LOADED}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda p: p.name)
def test_no_handler_imports_pydantic_at_init(function: Path) -> None:
    """Each handler as Lambda loads it (its directory first on sys.path, then `import app`)."""
    code = f"import sys; sys.path.insert(0, {str(function)!r}); import app; {_LOADED}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=function)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_good_policy_is_validated_without_pydantic_core() -> None:
    """The plain checks accept a valid table themselves: pydantic-core is not imported for it."""
    table = {
        "validation": {"min": {"auc": 0.8, "f1": 1}, "max": {"rmse": 2.5}, "max_regression": {"auc": 0}},
        "approval": {"slack": True, "slack_approvers": {"rc": ["U0123ABC", {"user": "W999", "iam": [ARN]}]}},
        "deploy": {"strategy": "canary", "instance_count": 2, "rollback_alarms": ["a"]},
        "stages": [{"name": "staging"}, {"name": "prod", "soak_minutes": 30}],
        "notify": {"sns": False},
    }
    code = (
        "from registry_workflow import policy; "
        f"print(policy.ProjectPolicy.model_validate({table!r}, strict=True).digest()); {_LOADED}"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    digest, loaded = done.stdout.split()
    assert (digest, loaded) == (ProjectPolicy.model_validate(table, strict=True).digest(), "[]")


# --- valid tables: where the plain checks decide alone (the generated tables above are mostly refused) ---

ARN = "arn:aws:iam::123456789012:role/a"
NAMES = st.sampled_from(["a", "rc-x", "Stage1", "p--q", "z" * 63, "a" * 64, "-a", "a-", "", "a b", "é", "a\n"])
NUMBERS = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 0.5, 1e308, 2**53, 2**53 + 1, -(2**60), 10**400]),
    st.floats(allow_nan=False),
)
STRINGS = st.one_of(
    st.sampled_from(["x", " x", "x ", "\tx", "x\x1c", "\x85x", "x\u3000", "\u200bx", "", "ml.m5.large"]),
    st.text(max_size=4),
)
GOOD_DEPLOY = {
    "enabled": st.booleans(),
    "endpoint_name": NAMES,
    "instance_type": STRINGS,
    "instance_count": st.sampled_from([0, 1, 2, 3, 100, 101]),
    "variant_name": NAMES,
    "strategy": st.sampled_from(["all-at-once", "canary", "linear", "Canary", " linear"]),
    "traffic_percent": st.sampled_from([1, 5, 10, 50, 51]),
    "wait_seconds": st.sampled_from([0, 300, 3600, 3601]),
    "rollback_alarms": st.lists(STRINGS, max_size=11),
    "create_alarms": st.booleans(),
    "max_execution_timeout_seconds": st.sampled_from([599, 600, 3600, 28800]),
    "execution_role_arn": STRINGS,
    "on_reject_without_fallback": st.sampled_from(["keep", "delete"]),
}
GOOD_METRICS = st.dictionaries(st.sampled_from(["auc", "f1", "rmse", " auc", "auc "]), NUMBERS, max_size=3)
GOOD_ARNS = st.lists(
    st.sampled_from([ARN, "arn:aws:sts::*:assumed-role/r/s", f"{ARN}\n", f" {ARN}", "arn"]), max_size=2
)
GOOD_APPROVER = st.one_of(
    st.sampled_from(["U0123ABC", "W999", "U0123ABC ", "u1", "U1"]),
    st.fixed_dictionaries({"user": st.sampled_from(["U0123ABC", "W99"])}, optional={"iam": GOOD_ARNS}),
)
GOOD_TABLES = st.fixed_dictionaries(
    {},
    optional={
        "validation": st.fixed_dictionaries(
            {},
            optional={
                "min": GOOD_METRICS,
                "max": GOOD_METRICS,
                "max_regression": GOOD_METRICS,
                "on_missing_metrics": st.sampled_from(["reject", "pass"]),
                "auto_reject": st.booleans(),
                "auto_approve": st.booleans(),
            },
        ),
        "approval": st.fixed_dictionaries(
            {},
            optional={
                "distinct_approver": st.booleans(),
                "approvers": GOOD_ARNS,
                "slack": st.booleans(),
                "slack_approvers": st.dictionaries(
                    st.sampled_from(["rc", "algo", " rc"]), st.lists(GOOD_APPROVER, max_size=2)
                ),
            },
        ),
        "deploy": st.fixed_dictionaries({}, optional=GOOD_DEPLOY),
        "stages": st.lists(
            st.fixed_dictionaries(
                {"name": NAMES},
                optional={**GOOD_DEPLOY, "soak_minutes": st.sampled_from([0, 30, 10080, 10081])},
            ).map(lambda stage: {k: v for k, v in stage.items() if k != "enabled"}),
            max_size=6,
        ),
        "notify": st.fixed_dictionaries(
            {},
            optional={
                "sns_topic_arn": STRINGS,
                "slack_secret_id": STRINGS,
                "sns": st.booleans(),
                "slack": st.booleans(),
            },
        ),
    },
)


@settings(max_examples=1500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(GOOD_TABLES)
def test_good_and_nearly_good_tables_validate_as_before(table: Any) -> None:
    same(table)


@pytest.mark.parametrize("cls", [*policy.PolicyModel.__subclasses__(), policy.StagePolicy], ids=lambda c: c.__name__)
def test_each_class_declares_exactly_the_keys_its_schema_validates(cls: type[policy.PolicyModel]) -> None:
    """A key added to a class but not to its schema (or the other way round) fails here, not in AWS.

    The oracle models above are frozen at the change away from pydantic models: a later key goes
    into the class, its schema in policy.py and the README's reference; this test keeps the first
    two in step.
    """
    declared = [name for klass in reversed(cls.__mro__) for name in vars(klass).get("__annotations__", {})]
    declared = [name for name in declared if not name.startswith("_") and name not in {"model_fields", "nested"}]
    declared = [name for name in declared if name != "spec"]  # the class's field table (checks.Model)
    assert declared == list(cls.model_fields)


def test_policies_copy_pickle_and_refuse_deletion() -> None:
    import copy
    import pickle

    project = policy.ProjectPolicy(deploy={"strategy": "canary", "instance_count": 2})

    for same in (copy.copy(project), copy.deepcopy(project), pickle.loads(pickle.dumps(project))):
        assert same == project
        assert same.digest() == project.digest()
    with pytest.raises(AttributeError):
        del project.deploy.enabled
    assert project.deploy.enabled is True
