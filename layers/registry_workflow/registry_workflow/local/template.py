"""Read `template.yaml` the way the offline twin and the tests need it: functions and their rules.

Resolves the intrinsics the template uses (Ref, Sub, Split, Join, GetAtt, Select, If and its
conditions, and AWS::LanguageExtensions' Fn::ForEach) against parameter defaults, so an
EventBridge pattern read here is the one CloudFormation would deploy. Rules come from each
function's `Events` of type `EventBridgeRule` (SAM) and from plain `AWS::Events::Rule` resources
targeting a function; `Schedule` events are read as schedules (the standard scheduled event).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from registry_workflow.errors import RegistryWorkflowError

#: the twin's region when neither --region, AWS_REGION nor AWS_DEFAULT_REGION names one
DEFAULT_REGION = "us-east-1"
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


@dataclass(frozen=True)
class ScheduleSpec:
    """A SAM `Schedule` event: EventBridge sends the target the standard scheduled event."""

    name: str
    expression: str
    target: str  # logical id of the function
    retry_attempts: int | None = None
    dead_letter: str | None = None

    def event(self, *, region: str, account: str, time: str, event_id: str) -> dict[str, Any]:
        """The event EventBridge delivers for one firing (source aws.events, "Scheduled Event")."""
        return {
            "version": "0",
            "id": event_id,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account,
            "time": time,
            "region": region,
            "resources": [f"arn:aws:events:{region}:{account}:rule/{self.name}"],
            "detail": {},
        }


@dataclass
class Template:
    path: Path
    parameters: dict[str, str]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    rules: list[RuleSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)

    def rules_for(self, function_logical_id: str) -> list[RuleSpec]:
        return [r for r in self.rules if r.target == function_logical_id]


# libyaml's parser when PyYAML was built with it (the wheels are): the template is ~2,000 lines and
# the pure-Python parser takes about 0.3 s of CPU for it, libyaml about 0.03 s
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[valid-type,misc]
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
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)

_parsed: dict[tuple[str, int, int], Any] = {}
_parsed_lock = threading.Lock()


def read_template(path: str | Path) -> dict[str, Any]:
    """template.yaml as plain data (`!Ref x` → `{"Ref": x}`): parsed once per file version, a fresh copy each call.

    The twin, its template reader and the tests all read the same file, often several times per
    twin; the parse is kept per (path, mtime, size), so an edited template is read again.
    """
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _parsed_lock:
        raw = _parsed.get(key)
        if raw is None:
            raw = yaml.load(path.read_text(), Loader=_CfnLoader) or {}  # noqa: S506 - SafeLoader subclass
            _parsed.clear()  # one version of one template is all a process needs
            _parsed[key] = raw
    return copy.deepcopy(raw)  # callers may change what they get


def load_template(
    path: str | Path, overrides: dict[str, str] | None = None, *, region: str = DEFAULT_REGION
) -> Template:
    path = Path(path)
    raw = read_template(path)
    params = {k: str(v.get("Default", "")) for k, v in (raw.get("Parameters") or {}).items()}
    params.update(overrides or {})
    lists = list_parameters(raw, params)
    raw = expand_for_each(raw, lists)
    resolver = _Resolver(params, raw.get("Resources", {}), region)
    resolver.lists, resolver.conditions = lists, raw.get("Conditions") or {}
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
                if event.get("Type") == "Schedule":
                    sprops = resolver.resolve(event.get("Properties") or {})
                    template.schedules.append(
                        ScheduleSpec(
                            str(sprops.get("Name") or f"{logical_id}.{event_name}"),
                            str(sprops["Schedule"]),
                            logical_id,
                            (sprops.get("RetryPolicy") or {}).get("MaximumRetryAttempts"),
                            (sprops.get("DeadLetterConfig") or {}).get("Arn"),
                        )
                    )
                if event.get("Type") != "EventBridgeRule":
                    continue
                eprops = resolver.resolve(event.get("Properties") or {})
                template.rules.append(
                    RuleSpec(
                        f"{logical_id}.{event_name}",
                        _pattern(eprops["Pattern"]),
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
                    template.rules.append(RuleSpec(logical_id, _pattern(rprops["EventPattern"]), function))
    return template


def _pattern(pattern: Any) -> dict[str, Any]:
    """An EventPattern is an object or, where it is built with Fn::Sub, a JSON string."""
    return json.loads(pattern) if isinstance(pattern, str) else pattern


def list_parameters(raw: dict[str, Any], params: dict[str, str]) -> dict[str, list[str]]:
    """Values of the template's CommaDelimitedList parameters (what `Ref` gives for them)."""
    declared = raw.get("Parameters") or {}
    return {
        name: [item.strip() for item in params.get(name, "").split(",") if item.strip()]
        for name, spec in declared.items()
        if spec.get("Type") == "CommaDelimitedList"
    }


def expand_for_each(raw: dict[str, Any], lists: dict[str, list[str]]) -> dict[str, Any]:
    """Expand `Fn::ForEach::<loop>` keys as AWS::LanguageExtensions does (collection: a list or a
    `Ref` to a CommaDelimitedList); `${Id}` becomes the item, `&{Id}` its letters and digits."""

    def collection(node: Any) -> list[str]:
        if isinstance(node, dict) and "Ref" in node:
            return list(lists[node["Ref"]])
        return [str(item) for item in node]

    def substitute(node: Any, identifier: str, value: str) -> Any:
        if isinstance(node, str):
            alnum = re.sub(r"[^0-9A-Za-z]", "", value)
            return node.replace("${" + identifier + "}", value).replace("&{" + identifier + "}", alnum)
        if isinstance(node, list):
            return [substitute(item, identifier, value) for item in node]
        if isinstance(node, dict):
            if node == {"Ref": identifier}:
                return value
            return {substitute(k, identifier, value): substitute(v, identifier, value) for k, v in node.items()}
        return node

    def expand(node: Any) -> Any:
        if isinstance(node, list):
            return [expand(item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("Fn::ForEach::"):
                identifier, items, fragment = value
                for item in collection(items):
                    out.update(expand(substitute(fragment, identifier, item)))
            else:
                out[key] = expand(value)
        return out

    return {
        key: expand(value) if key in {"Resources", "Outputs", "Conditions"} else value for key, value in raw.items()
    }


def _function_of(arn: Any) -> str | None:
    match = re.match(r"^arn:lambda:function:(\w+)$", str(arn))
    return match.group(1) if match else None


class _Resolver:
    def __init__(self, params: dict[str, str], resources: dict[str, Any], region: str = DEFAULT_REGION) -> None:
        self.region = region
        self.params = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": "registry-workflow-local",
            **params,
        }
        self.resources = resources
        self.lists: dict[str, list[str]] = {}
        self.conditions: dict[str, Any] = {}

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in (self.resolve(x) for x in node) if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self._ref(value)
            if key == "Fn::If":
                condition, if_true, if_false = value
                return self.resolve(if_true if self.condition(condition) else if_false)
            if key in {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"}:
                return self._evaluate(key, value)
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
                return self._get_att(self.resolve(logical), attribute)
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(index)]
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def condition(self, name: str) -> bool:
        """The value of a named condition of the template's `Conditions`."""
        return bool(self.resolve(self.conditions[name]))

    def _evaluate(self, key: str, value: Any) -> bool:
        if key == "Condition":
            return self.condition(value)
        if key == "Fn::Equals":
            left, right = (self.resolve(x) for x in value)
            return bool(left == right)
        if key == "Fn::Not":
            return not self.resolve(value[0])
        results = [bool(self.resolve(x)) for x in value]
        return all(results) if key == "Fn::And" else any(results)

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.lists:
            return list(self.lists[name])
        if name in self.params:
            return self.params[name]
        kind = (self.resources.get(name) or {}).get("Type", "")
        if kind == "AWS::Serverless::Function":
            return name
        return _local_name(name, kind, self.region)

    def _get_att(self, logical: str, attribute: str) -> str:
        kind = (self.resources.get(logical) or {}).get("Type", "")
        if kind == "AWS::Serverless::Function" and attribute == "Arn":
            return f"arn:lambda:function:{logical}"
        if attribute == "Arn":
            return f"arn:local:{kind}:{logical}"
        return _local_name(logical, kind, self.region)

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


#: what `Ref: AWS::NoValue` resolves to: removed from the list or object holding it
_NO_VALUE = object()


def _local_name(logical_id: str, kind: str, region: str) -> str:
    """The physical name a resource gets in the twin: its logical id (ARNs for topics)."""
    if kind == "AWS::SNS::Topic":
        return f"arn:aws:sns:{region}:{ACCOUNT}:{logical_id}"
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
