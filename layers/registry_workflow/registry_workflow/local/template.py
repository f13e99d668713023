"""Read `template.yaml` the way the offline twin and the tests need it: functions and their rules.

Resolves the few intrinsics the template uses (Ref, Sub, Split, Join, GetAtt, Select) against
parameter defaults, so an EventBridge pattern read here is the one CloudFormation would deploy.
Rules come from each function's `Events` of type `EventBridgeRule` (SAM) and from plain
`AWS::Events::Rule` resources targeting a function.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from registry_workflow.errors import RegistryWorkflowError

REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]

    @property
    def module_path(self) -> Path:
        return self.code_dir / f"{self.handler.rsplit('.', 1)[0]}.py"

    @property
    def function_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class RuleSpec:
    name: str
    pattern: dict[str, Any]
    target: str  # logical id of the function
    retry_attempts: int | None = None
    dead_letter: str | None = None


@dataclass
class Template:
    path: Path
    parameters: dict[str, str]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    rules: list[RuleSpec] = field(default_factory=list)

    def rules_for(self, function_logical_id: str) -> list[RuleSpec]:
        return [r for r in self.rules if r.target == function_logical_id]


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps `!Ref x` as `{"Ref": x}` and friends."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path, overrides: dict[str, str] | None = None) -> Template:
    path = Path(path)
    raw = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    params = {k: str(v.get("Default", "")) for k, v in (raw.get("Parameters") or {}).items()}
    params.update(overrides or {})
    resolver = _Resolver(params, raw.get("Resources", {}))
    globals_env = resolver.resolve(
        ((raw.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables", {})
    )
    template = Template(path, params)
    for logical_id, resource in raw.get("Resources", {}).items():
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        if kind == "AWS::Serverless::Function":
            env = {**globals_env, **resolver.resolve((props.get("Environment") or {}).get("Variables", {}))}
            template.functions[logical_id] = FunctionSpec(
                logical_id,
                path.parent / props["CodeUri"],
                props["Handler"],
                {k: str(v) for k, v in env.items()},
            )
            for event_name, event in (props.get("Events") or {}).items():
                if event.get("Type") != "EventBridgeRule":
                    continue
                eprops = resolver.resolve(event.get("Properties") or {})
                template.rules.append(
                    RuleSpec(
                        f"{logical_id}.{event_name}",
                        eprops["Pattern"],
                        logical_id,
                        (eprops.get("RetryPolicy") or {}).get("MaximumRetryAttempts"),
                        (eprops.get("DeadLetterConfig") or {}).get("Arn"),
                    )
                )
        elif kind == "AWS::Events::Rule":
            rprops = resolver.resolve(props)
            for target in rprops.get("Targets", []):
                function = _function_of(target.get("Arn"))
                if function:
                    template.rules.append(RuleSpec(logical_id, rprops["EventPattern"], function))
    return template


def _function_of(arn: Any) -> str | None:
    match = re.match(r"^arn:lambda:function:(\w+)$", str(arn))
    return match.group(1) if match else None


class _Resolver:
    def __init__(self, params: dict[str, str], resources: dict[str, Any]) -> None:
        self.params = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": "registry-workflow-local",
            **params,
        }
        self.resources = resources

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(x) for x in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self._ref(value)
            if key == "Fn::Sub":
                return self._sub(value)
            if key == "Fn::Split":
                delimiter, source = value
                return str(self.resolve(source)).split(delimiter)
            if key == "Fn::Join":
                delimiter, items = value
                return str(delimiter).join(str(x) for x in self.resolve(items))
            if key == "Fn::GetAtt":
                logical, attribute = value
                return self._get_att(logical, attribute)
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(index)]
        return {k: self.resolve(v) for k, v in node.items()}

    def _ref(self, name: str) -> str:
        if name in self.params:
            return self.params[name]
        kind = (self.resources.get(name) or {}).get("Type", "")
        if kind == "AWS::Serverless::Function":
            return name
        return _local_name(name, kind)

    def _get_att(self, logical: str, attribute: str) -> str:
        kind = (self.resources.get(logical) or {}).get("Type", "")
        if kind == "AWS::Serverless::Function" and attribute == "Arn":
            return f"arn:lambda:function:{logical}"
        if attribute == "Arn":
            return f"arn:local:{kind}:{logical}"
        return _local_name(logical, kind)

    def _sub(self, value: Any) -> str:
        text, variables = (value, {}) if isinstance(value, str) else (value[0], self.resolve(value[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return self._get_att(*name.split(".", 1))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def _local_name(logical_id: str, kind: str) -> str:
    """The physical name a resource gets in the twin: its logical id (ARNs for topics)."""
    if kind == "AWS::SNS::Topic":
        return f"arn:aws:sns:{REGION}:{ACCOUNT}:{logical_id}"
    return logical_id


def load_handler_module(path: str | Path) -> ModuleType:
    """Import a function's handler file under a unique name (every function's file is `app.py`)."""
    path = Path(path).resolve()
    name = f"_lambda_{path.parent.name.replace('-', '_')}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RegistryWorkflowError(f"cannot load handler {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge matching, by moto's matcher (the same code moto's `put_events` uses)."""
    from moto.events.models import EventPattern

    return bool(EventPattern.load(json.dumps(pattern)).matches_event(event))  # type: ignore[arg-type]
