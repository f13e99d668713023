"""Is every AWS call a function makes allowed by its role in template.yaml? moto does not say.

moto enforces no IAM, so a call the deployed role would be refused passes on the twin. This
module records the botocore calls each function's handler makes in a test (`CallRecorder`) and
judges each against the identity policies of that function's role, rendered as CloudFormation
would deploy the template (`RolePolicies.of_template`).

What it models: the role's inline policies and the customer managed policies of this template
attached to it; Allow and Deny (an explicit Deny wins); Action/NotAction with IAM wildcards
(case-insensitive); Resource/NotResource with wildcards, matched per ARN section; the resource
each operation is authorised on (`authorisations`), including the extra checks some calls carry
(tags on create, iam:PassRole, a package named by CreateModel, each item of a transaction); the
condition operators String(Not)Equals(IgnoreCase), String(Not)Like, Arn(Not)Equals/Like, Null
and Bool (…IfExists too) on the keys aws:RequestedRegion, sagemaker:ModelLifeCycle:stage and
:stageStatus, iam:PassedToService and s3:prefix.

What it does not: SCPs, resource policies (bucket, key, topic, queue), permission boundaries,
session policies, AWS managed policies (AWSLambdaBasicExecutionRole: logs and X-Ray, which these
tests never call), KMS behind an S3 read of an SSE-KMS object (kms:ViaService), and any other
condition key: a statement whose conditions use one is treated as not matching and the key is
named in the reason, so the evaluator never allows by not knowing.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCOUNT, REGION, REPO
from registry_workflow.local.template import _Resolver, list_parameters, read_template

#: set to another template's path (e.g. `git show HEAD:template.yaml` saved to a file) to judge it
TEMPLATE_ENV = "IAM_COVERAGE_TEMPLATE"


@dataclass(frozen=True)
class Call:
    """One botocore API call made while a function's handler ran."""

    function: str  # logical id, e.g. "TrackerFunction"
    service: str  # the IAM prefix, e.g. "sagemaker", "cloudwatch"
    operation: str  # e.g. "UpdateModelPackage"
    params: dict[str, Any]
    region: str


@dataclass(frozen=True)
class Request:
    """One authorisation AWS makes for a call: an action on a resource, with its context keys."""

    action: str
    resource: str
    context: dict[str, str]


@dataclass(frozen=True)
class Denial:
    function: str
    operation: str
    action: str
    resource: str
    why: str

    def __str__(self) -> str:
        return f"{self.function} {self.operation}: {self.action} on {self.resource} denied ({self.why})"


# --- recording -----------------------------------------------------------------------------------


@dataclass
class CallRecorder:
    """Records every botocore call made while a handler runs under `as_function`.

    The running function is a plain attribute, not a ContextVar: the provisioner creates groups
    from a thread pool, whose threads do not inherit the handler's context. One handler runs at a
    time in these tests, and nothing the test itself calls meanwhile is recorded."""

    calls: list[Call] = field(default_factory=list)
    running: str | None = None  # the function whose handler is running; None = the test itself

    def install(self, monkeypatch: pytest.MonkeyPatch) -> CallRecorder:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call  # type: ignore[attr-defined]  # botocore's one call path
        recorder = self

        def recording(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            function = recorder.running
            if function is not None:
                service = client.meta.service_model.signing_name
                recorder.calls.append(
                    Call(
                        function,
                        _IAM_PREFIX.get(service, service),
                        operation_name,
                        dict(api_params),
                        client.meta.region_name,
                    )
                )
            return original(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", recording)
        return self

    def as_function(self, function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        """`handler`, its AWS calls recorded as `function`'s (a logical id of template.yaml)."""

        def run(*args: Any, **kwargs: Any) -> Any:
            outer, self.running = self.running, function
            try:
                return handler(*args, **kwargs)
            finally:
                self.running = outer

        return run

    def functions(self) -> set[str]:
        return {c.function for c in self.calls}


#: botocore's signing name → IAM's service prefix, where they differ
_IAM_PREFIX = {"monitoring": "cloudwatch"}


# --- the resource each call is authorised on ----------------------------------------------------


def authorisations(call: Call, secret_arn: Callable[[str], str]) -> list[Request]:
    """The (action, resource, context) checks AWS makes for `call`; `secret_arn` resolves a
    secret's name to its ARN (IAM authorises on the ARN, with its random suffix)."""
    p, service, op = call.params, call.service, call.operation
    context = {"aws:RequestedRegion": call.region}
    arn = f"arn:aws:{service}:{call.region}:{ACCOUNT}"

    def one(resource: str, action: str = f"{service}:{op}", **keys: str) -> Request:
        return Request(action, resource, context | keys)

    if service == "sagemaker":
        return _sagemaker(call, arn, one)
    if service == "s3":
        action = {"HeadObject": "s3:GetObject", "ListObjectsV2": "s3:ListBucket", "HeadBucket": "s3:ListBucket"}
        bucket = f"arn:aws:s3:::{p['Bucket']}"
        if op in {"ListObjectsV2", "ListObjects", "HeadBucket", "GetBucketLocation"}:
            keys = {"s3:prefix": p["Prefix"]} if "Prefix" in p else {}
            return [one(bucket, action.get(op, f"s3:{op}"), **keys)]
        return [one(f"{bucket}/{p['Key']}", action.get(op, f"s3:{op}"))]
    if service == "dynamodb":
        if op in {"TransactWriteItems", "TransactGetItems"}:
            return [
                one(f"{arn}:table/{body['TableName']}", f"dynamodb:{_TRANSACT_ACTIONS[kind]}")
                for item in p["TransactItems"]
                for kind, body in item.items()
            ]
        if op in {"BatchWriteItem", "BatchGetItem"}:
            return [one(f"{arn}:table/{table}") for table in p["RequestItems"]]
        index = f"/index/{p['IndexName']}" if "IndexName" in p else ""
        return [one(f"{arn}:table/{p['TableName']}{index}")]
    if service == "sns":
        return [one(p.get("TopicArn") or p.get("TargetArn") or "*")]
    if service == "sqs":
        return [one(f"{arn}:{p['QueueUrl'].rstrip('/').rsplit('/', 1)[-1]}")]
    if service == "secretsmanager":
        return [one(secret_arn(p["SecretId"]))]
    if service == "cloudwatch":
        names = [p["AlarmName"]] if "AlarmName" in p else list(p.get("AlarmNames") or [])
        requests = [one(f"{arn}:alarm:{name}") for name in names] or [one("*")]
        if op == "PutMetricAlarm" and p.get("Tags"):
            requests += [one(r.resource, "cloudwatch:TagResource") for r in requests]
        return requests
    if service == "ssm":
        return [one(f"{arn}:parameter/{p['Name'].lstrip('/')}")]
    if service == "sts" and op == "GetCallerIdentity":
        return []  # needs no permission
    return [one("*")]  # a service this module does not know: "*" must be granted outright


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _sagemaker(call: Call, arn: str, one: Callable[..., Request]) -> list[Request]:
    """SageMaker's resource ARNs are lower-case; names from the request, ARNs as given."""
    p, op = call.params, call.operation

    def named(kind: str, name: str) -> str:
        return name.lower() if name.startswith("arn:") else f"{arn}:{kind}/{name.lower()}"

    if op.startswith("List") and op != "ListTags":
        return [one("*")]
    if op in {"AddTags", "ListTags", "DeleteTags"}:
        return [one(p["ResourceArn"].lower())]
    if "ModelPackageGroupName" in p and op.endswith("ModelPackageGroup"):
        group = named("model-package-group", p["ModelPackageGroupName"])
        return [one(group)] + ([one(group, "sagemaker:AddTags")] if p.get("Tags") else [])
    if op in {"DescribeModelPackage", "UpdateModelPackage", "DeleteModelPackage"}:
        name = p.get("ModelPackageArn") or p["ModelPackageName"]
        lifecycle = p.get("ModelLifeCycle") or {}
        keys = {
            k: v
            for k, v in {
                "sagemaker:ModelLifeCycle:stage": lifecycle.get("Stage"),
                "sagemaker:ModelLifeCycle:stageStatus": lifecycle.get("StageStatus"),
            }.items()
            if v is not None
        }
        return [one(named("model-package", name), **keys)]
    kinds = {"Model": "model", "EndpointConfig": "endpoint-config", "Endpoint": "endpoint"}
    kind = next((k for k in sorted(kinds, key=len, reverse=True) if op.endswith(k)), None)
    if kind is None:
        return [one("*")]
    resource = named(kinds[kind], p[f"{kind}Name"])
    requests = [one(resource)]
    if p.get("Tags"):  # tagging on create is authorised as AddTags on the new resource too
        requests.append(one(resource, "sagemaker:AddTags"))
    if op == "CreateModel":
        containers = list(p.get("Containers") or []) + ([p["PrimaryContainer"]] if "PrimaryContainer" in p else [])
        # a container from a model package: checked on the package too (CreateModel and its
        # Describe, as a cross-account group policy must allow; which one AWS checks is not documented)
        requests += [
            one(named("model-package", c["ModelPackageName"]), action)
            for c in containers
            if "ModelPackageName" in c
            for action in ("sagemaker:CreateModel", "sagemaker:DescribeModelPackage")
        ]
        if "ExecutionRoleArn" in p:
            requests.append(
                one(p["ExecutionRoleArn"], "iam:PassRole", **{"iam:PassedToService": "sagemaker.amazonaws.com"})
            )
    return requests


# --- the roles' policies, from the template ------------------------------------------------------


@dataclass
class RolePolicies:
    """Each function's identity-policy statements, from the template as CloudFormation deploys it."""

    statements: dict[str, list[dict[str, Any]]]  # function logical id → statements

    @classmethod
    def of_template(cls, env_text: str, policy_text: str | None, *, metrics_bucket: str) -> RolePolicies:
        """template.yaml (or $IAM_COVERAGE_TEMPLATE) for this config, the stack's resources named
        as the running test named them (`_TestStackNames`)."""
        import template_render

        path = Path(os.environ.get(TEMPLATE_ENV) or REPO / "template.yaml")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(template_render, "read_template", lambda _: read_template(path))
            rendered = template_render.render(env_text, policy_text, stand_ins=False)
        processed = rendered.processed
        parameters = rendered.parameters | {
            "MetricsBucket": metrics_bucket,
            "SageMakerExecutionRoleArn": os.environ.get(
                "SAGEMAKER_EXECUTION_ROLE_ARN", rendered.parameters["SageMakerExecutionRoleArn"]
            ),
        }
        resolver = _TestStackNames(parameters, processed["Resources"], REGION)
        resolver.lists = list_parameters(read_template(path), parameters)
        resolver.conditions = processed.get("Conditions") or {}
        resolver.params |= {"AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
        resources = resolver.resolve(processed["Resources"])
        found: dict[str, list[dict[str, Any]]] = {}
        for logical, resource in processed["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            role = resources[resource["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
            documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
            documents += [
                resources[m]["Properties"]["PolicyDocument"]
                for m in role.get("ManagedPolicyArns", [])
                if m in resources  # a policy of this stack; AWS managed ones are not modelled
            ]
            found[logical] = [s for d in documents for s in listed(d["Statement"])]
        return cls(found)

    def denied(self, calls: list[Call]) -> list[Denial]:
        """Every authorisation of `calls` that no Allow grants (or a Deny refuses), with why."""
        out: list[Denial] = []
        for call in calls:
            statements = self.statements.get(call.function)
            if statements is None:
                out.append(Denial(call.function, call.operation, "-", "-", "no such function in the template"))
                continue
            for request in authorisations(call, _secret_arn):
                allowed, why = decide(statements, request)
                if not allowed:
                    out.append(Denial(call.function, call.operation, request.action, request.resource, why))
        return out


class _TestStackNames(_Resolver):
    """Resolves Ref/GetAtt of the stack's tables, topics, queues and secrets to what the running
    test made: the mapping is the template's own environment variables (LEDGER_TABLE: !Ref
    LedgerTable, …) read back from the test's os.environ. Anything else keeps the twin's name (its
    logical id), so a call to it is denied unless the policy is a wildcard."""

    def __init__(self, params: dict[str, str], resources: dict[str, Any], region: str) -> None:
        super().__init__(params, resources, region)
        self.named = _names_from_environment(resources)

    def _ref(self, name: str) -> Any:
        if name in self.named:
            return self.named[name]
        return super()._ref(name)

    def _get_att(self, logical: str, attribute: str) -> str:
        kind = (self.resources.get(logical) or {}).get("Type", "")
        value = self.named.get(logical) or logical
        name = value.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{self.region}:{ACCOUNT}:{name}" if attribute == "Arn" else name
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return name
        return str(super()._get_att(logical, attribute))


def _names_from_environment(resources: dict[str, Any]) -> dict[str, str]:
    """logical id → the physical name/ARN/URL the test gave it, through each function's
    `VARIABLE: !Ref Resource` (Globals included, as SAM merged them)."""
    named: dict[str, str] = {}
    for resource in resources.values():
        variables = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        for variable, value in variables.items():
            if isinstance(value, dict) and set(value) == {"Ref"} and os.environ.get(variable):
                physical = os.environ[variable]
                if resources.get(value["Ref"], {}).get("Type") == "AWS::SecretsManager::Secret":
                    physical = _secret_arn(physical)
                named[value["Ref"]] = physical
    return named


def _secret_arn(secret_id: str) -> str:
    """A secret's ARN (with its random suffix), asked of moto outside any recorded handler."""
    if secret_id.startswith("arn:"):
        return secret_id
    from registry_workflow import aws

    with contextlib.suppress(Exception):
        return str(aws.client("secretsmanager").describe_secret(SecretId=secret_id)["ARN"])
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret_id}"


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- the decision --------------------------------------------------------------------------------


def decide(statements: list[dict[str, Any]], request: Request) -> tuple[bool, str]:
    """IAM's identity-policy logic for one request: an explicit Deny wins, else some Allow must
    match action, resource and conditions. Returns (allowed, why not)."""
    allowed, reasons = False, []
    for statement in statements:
        if not (_action_matches(statement, request.action) and _resource_matches(statement, request.resource)):
            continue
        ok, why = _conditions_hold(statement.get("Condition") or {}, request.context)
        if not ok and statement["Effect"] == "Deny" and "not modelled" in why:
            # a Deny this module cannot evaluate may apply: never allow by not knowing
            return False, f"{statement.get('Sid', 'a statement')} may deny: {why}"
        if not ok:
            reasons.append(f"{statement.get('Sid', 'a statement')}: {why}")
            continue
        if statement["Effect"] == "Deny":
            return False, f"explicitly denied by {statement.get('Sid', 'a statement')}"
        allowed = True
    if allowed:
        return True, ""
    return False, "; ".join(reasons) or "no statement allows this action on this resource"


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_like(p, action, fold=True) for p in listed(statement["NotAction"]))
    return any(_like(p, action, fold=True) for p in listed(statement.get("Action", [])))


def _resource_matches(statement: dict[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(_arn_like(p, resource) for p in listed(statement["NotResource"]))
    return any(_arn_like(p, resource) for p in listed(statement.get("Resource", [])))


def _arn_like(pattern: str, arn: str) -> bool:
    """IAM matches an ARN's six sections each on its own ("*" never spans a ":" of the first five)."""
    if pattern == "*":
        return True
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    return len(wanted) == len(given) and all(_like(w, g) for w, g in zip(wanted, given, strict=True))


def _like(pattern: str, value: str, *, fold: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if fold else re.DOTALL) is not None


#: the condition keys this module can say the value of (absent from a request = not in its context)
KNOWN_KEYS = {
    "aws:requestedregion",
    "sagemaker:modellifecycle:stage",
    "sagemaker:modellifecycle:stagestatus",
    "iam:passedtoservice",
    "s3:prefix",
}


def _conditions_hold(condition: dict[str, Any], context: dict[str, str]) -> tuple[bool, str]:
    """Every operator's every key must hold (IAM ANDs them; a key's values are ORed)."""
    values = {k.lower(): v for k, v in context.items()}
    for operator, tests in condition.items():
        for key, expected in tests.items():
            if key.lower() not in KNOWN_KEYS:
                return False, f"condition key {key} is not modelled"
            holds = _operator(operator, values.get(key.lower()), [str(e) for e in listed(expected)])
            if holds is None:
                return False, f"condition operator {operator} is not modelled"
            if not holds:
                return False, f"{operator} {key} {expected!r} fails for {values.get(key.lower())!r}"
    return True, ""


def _operator(operator: str, value: str | None, expected: list[str]) -> bool | None:
    """One operator on one single-valued key; None = an operator this module does not know."""
    if operator == "Null":  # "true": the key must be absent
        return any((e.lower() == "true") == (value is None) for e in expected)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    negated = "Not" in base
    base = base.replace("Not", "")
    compare: dict[str, Callable[[str, str], bool]] = {
        "StringEquals": lambda e, v: e == v,
        "StringEqualsIgnoreCase": lambda e, v: e.lower() == v.lower(),
        "StringLike": lambda e, v: _like(e, v),
        "ArnEquals": lambda e, v: e == v,
        "ArnLike": _arn_like,
        "Bool": lambda e, v: e.lower() == v.lower(),
    }
    if base not in compare:
        return None
    if value is None:  # absent: a negated operator (or …IfExists) holds, a positive one does not
        return negated or if_exists
    matched = any(compare[base](e, value) for e in expected)
    return not matched if negated else matched
