"""Render template.yaml as CloudFormation would deploy it, for the size and policy tests.

Fn::ForEach expanded over ManagedTeams (AWS::LanguageExtensions), then SAM's own translator
(samtranslator, as `sam deploy` runs it), then every intrinsic resolved for one region. With
`stand_ins`, resources' names and ARNs resolve to 100-character strings, longer than any this
stack gets, so sizes measured on them are upper bounds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from conftest import REPO
from registry_workflow.config import parse_config
from registry_workflow.local.template import _Resolver, expand_for_each, list_parameters, read_template

REGION, ACCOUNT = "ap-northeast-1", "123456789012"
STAND_IN = "x" * 100


def config_env(teams: int, projects: int, *, team_len: int = 8) -> str:
    """A seed-format .env.shared: `teams` teams of `projects` projects each."""
    names = [f"t{i:0{team_len - 1}d}" for i in range(teams)]
    lines = [f"TEAMS={' '.join(names)}"]
    lines += [f"{n.upper()}_PROJECTS=" + " ".join(f"project-{j:03d}" for j in range(projects)) for n in names]
    return "\n".join(lines) + "\n"


class _Physical(_Resolver):
    """Resources resolve to long stand-ins (CloudFormation's names are shorter)."""

    def _ref(self, name: str) -> Any:
        if name in self.resources:
            return STAND_IN
        return super()._ref(name)

    def _get_att(self, logical: str, attribute: str) -> str:
        return STAND_IN


@dataclass
class Rendered:
    parameters: dict[str, str]
    processed: dict[str, Any]  # after LanguageExtensions and SAM, before resolution
    resources: dict[str, Any]  # resolved
    outputs: dict[str, Any]


def render(env_text: str, policy_text: str | None = None, *, stand_ins: bool = True) -> Rendered:
    """template.yaml with ManagedTeams and GuardedStages from this config (as `make deploy` passes
    them), as CloudFormation would deploy it."""
    from samtranslator.translator.transform import transform

    config = parse_config(env_text, policy_text)
    raw = read_template(REPO / "template.yaml")
    parameters = {k: str(v.get("Default", "")) for k, v in raw["Parameters"].items()}
    parameters |= {
        "ManagedTeams": ",".join(config.teams),
        "GuardedStages": config.guarded_stages_parameter,
        "SageMakerExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/sagemaker-execution",
        "MetricsKmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{'0' * 8}-{'0' * 4}-{'0' * 4}-{'0' * 4}-{'0' * 12}",
    }
    lists = list_parameters(raw, parameters)
    expanded = expand_for_each(raw, lists)
    expanded["Transform"] = "AWS::Serverless-2016-10-31"
    for resource in expanded["Resources"].values():  # what `sam package` puts there
        for key in ("CodeUri", "ContentUri"):
            if key in (resource.get("Properties") or {}):
                resource["Properties"][key] = "s3://artifacts-bucket/0123456789abcdef0123456789abcdef"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    # SAM asks boto3 for a region even when told one (conftest sets AWS_DEFAULT_REGION per test)
    processed = transform(copy.deepcopy(expanded), {**parameters, "AWS::Region": REGION}, NoManagedPolicies())
    resolver = (_Physical if stand_ins else _Resolver)(parameters, processed["Resources"], REGION)
    resolver.lists, resolver.conditions = lists, processed.get("Conditions") or {}
    resolver.params |= {"AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
    return Rendered(
        parameters,
        processed,
        resolver.resolve(processed["Resources"]),
        resolver.resolve(processed.get("Outputs") or {}),
    )
