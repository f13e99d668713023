"""template.yaml at scale: nothing grows with projects, and what grows with teams stays in AWS's limits.

Rendered as CloudFormation would deploy it (tests/template_render.py), names and ARNs resolved
to 100-character stand-ins, so the sizes measured are upper bounds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import REPO
from template_render import Rendered, config_env, render

# AWS's limits (IAM, EventBridge and CloudFormation quotas)
MANAGED_POLICY_CHARS = 6_144  # a managed policy, whitespace not counted
INLINE_POLICY_CHARS_PER_ROLE = 10_240  # all inline policies of one role together
MANAGED_POLICIES_PER_ROLE = 10  # attached to one role (default quota)
EVENT_PATTERN_CHARS = 2_048  # default quota (4,096 with a raise)
PARAMETER_VALUE_BYTES = 4_096
TEMPLATE_BODY_BYTES = 1_000_000  # through S3 (sam deploy uploads it)
RESOURCES = 500
OUTPUTS = 200


def minified(document: Any) -> int:
    """IAM counts a policy's characters without whitespace."""
    return len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))


@dataclass
class Sizes:
    largest_managed_policy: tuple[str, int]
    largest_role_inline: tuple[str, int]
    most_managed_per_role: tuple[str, int]
    largest_pattern: tuple[str, int]
    largest_parameter: tuple[str, int]
    template_bytes: int
    resources: int
    outputs: int

    def problems(self) -> list[str]:
        checks = [
            ("managed policy", self.largest_managed_policy, MANAGED_POLICY_CHARS),
            ("inline policies of a role", self.largest_role_inline, INLINE_POLICY_CHARS_PER_ROLE),
            ("managed policies on a role", self.most_managed_per_role, MANAGED_POLICIES_PER_ROLE),
            ("event pattern", self.largest_pattern, EVENT_PATTERN_CHARS),
            ("parameter value", self.largest_parameter, PARAMETER_VALUE_BYTES),
            ("template body", ("processed", self.template_bytes), TEMPLATE_BODY_BYTES),
            ("resources", ("count", self.resources), RESOURCES),
            ("outputs", ("count", self.outputs), OUTPUTS),
        ]
        return [f"{what} {name}: {size} > {limit}" for what, (name, size), limit in checks if size > limit]


def measure(rendered: Rendered) -> Sizes:
    resources = rendered.resources
    managed = {
        k: minified(r["Properties"]["PolicyDocument"])
        for k, r in resources.items()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
    }
    roles = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    inline = {k: sum(minified(p["PolicyDocument"]) for p in props.get("Policies", [])) for k, props in roles.items()}
    attached = {k: len(props.get("ManagedPolicyArns", [])) for k, props in roles.items()}
    patterns = {
        k: len(r["Properties"]["EventPattern"])
        if isinstance(r["Properties"]["EventPattern"], str)
        else len(json.dumps(r["Properties"]["EventPattern"], separators=(",", ":")))
        for k, r in resources.items()
        if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"]
    }
    parameters = {k: len(v.encode()) for k, v in rendered.parameters.items()}
    return Sizes(
        max(managed.items(), key=lambda kv: kv[1]),
        max(inline.items(), key=lambda kv: kv[1]),
        max(attached.items(), key=lambda kv: kv[1]),
        max(patterns.items(), key=lambda kv: kv[1]),
        max(parameters.items(), key=lambda kv: kv[1]),
        len(json.dumps(rendered.processed).encode()),
        len(resources),
        len(rendered.outputs),
    )


@pytest.fixture
def at_300_projects() -> Sizes:
    return measure(render(config_env(10, 30)))


def test_300_projects_in_10_teams_fit_every_limit(at_300_projects: Sizes) -> None:
    print(f"\n300 projects (10 teams x 30): {at_300_projects}")
    assert at_300_projects.problems() == []


def test_guarded_stage_names_up_to_the_configs_limit_fit_every_limit() -> None:
    """GuardedStages grows with the distinct names of guarded stages (a shared `production` is one);
    the config refuses more than MAX_GUARDED_STAGES_CHARS, and at that size the stack still fits."""
    from registry_workflow.config import MAX_GUARDED_STAGES_CHARS, parse_config
    from registry_workflow.errors import ConfigError

    env = config_env(10, 30)
    groups = parse_config(env).group_names

    def staged(width: int) -> str:  # every project's last stage guarded, each under its own name
        stages = '\n[[projects."{g}".stages]]\nname = "staging"\n\n[[projects."{g}".stages]]\nname = "{n}"\n'
        return "[defaults.validation]\nmin = {}\n" + "".join(
            stages.format(g=g, n=f"p{i:03d}".ljust(width, "x")) for i, g in enumerate(groups)
        )

    at_limit = staged(MAX_GUARDED_STAGES_CHARS // len(groups) - 1)  # 300 names of 9 characters
    sizes = measure(render(env, at_limit))
    print(f"\n300 distinct guarded stage names: {sizes}")
    assert len(render(env, at_limit).parameters["GuardedStages"]) <= MAX_GUARDED_STAGES_CHARS
    assert sizes.problems() == []
    with pytest.raises(ConfigError, match="the guarded stage names add up to"):
        parse_config(env, staged(MAX_GUARDED_STAGES_CHARS // len(groups)))


def test_nothing_grows_with_the_number_of_projects() -> None:
    one = measure(render(config_env(10, 1)))
    thirty = measure(render(config_env(10, 30)))

    assert one == thirty  # the template sees teams only: ManagedTeams is its one input from config


def test_teams_are_what_grows_and_the_limit_is_far_above_a_real_organisation() -> None:
    """Per team: three managed policies and three outputs (registrant, approver, promoter), one
    prefix in each pattern and one ARN in each function policy. At 8-character team names the
    first limit is CloudFormation's 200 outputs at about 62 teams, then EventBridge's 2,048
    characters of the deployer's pattern (approvals and promotion requests) at about 70 (4,096
    with a quota raise)."""
    sizes = {teams: measure(render(config_env(teams, 1))) for teams in (1, 10, 60)}
    for teams, size in sizes.items():
        print(f"\n{teams} teams x 1 project: {size}")
    assert all(not size.problems() for size in sizes.values())

    too_many = measure(render(config_env(300, 1)))
    print(f"\n300 teams x 1 project: {too_many}\n  over: {too_many.problems()}")
    assert {p.split(" ")[0] for p in too_many.problems()} >= {"event", "outputs"}


def test_every_team_gets_a_registrant_an_approver_and_a_promoter_policy_as_outputs() -> None:
    rendered = render(config_env(3, 2))
    outputs = rendered.processed["Outputs"]
    for team in ("t0000000", "t0000001", "t0000002"):
        for kind in ("Registrant", "Approver", "Promoter"):
            logical = f"{kind}Policy{team}"
            assert rendered.processed["Resources"][logical]["Type"] == "AWS::IAM::ManagedPolicy"
            assert outputs[logical]["Value"] == {"Fn::GetAtt": [{"Fn::Sub": logical}, "PolicyArn"]}


def test_region_is_never_hard_coded() -> None:
    text = (REPO / "template.yaml").read_text()
    assert "us-east-1" not in text
    assert "arn:aws:" not in text  # the partition comes from AWS::Partition, or is a wildcard


def test_the_provisioner_custom_resource_has_a_service_timeout_and_passes_the_teams() -> None:
    from test_template import raw_template

    resources = raw_template()["Resources"]
    properties = resources["ModelPackageGroups"]["Properties"]
    # CloudFormation's range is 1-3600 s; above the function's own timeout so it answers first
    assert resources["ProvisionerFunction"]["Properties"]["Timeout"] < properties["ServiceTimeout"] < 3600
    assert properties["ManagedTeams"] == {"Fn::Join": [",", {"Ref": "ManagedTeams"}]}


def test_metrics_key_is_granted_only_when_set() -> None:
    def kms_actions(rendered: Rendered) -> set[str]:
        found: set[str] = set()
        for resource in rendered.resources.values():
            text = json.dumps(resource)
            found |= set(re.findall(r'"(kms:(?:Decrypt|GenerateDataKey))"', text))
        return found

    with_key = render(config_env(2, 1))
    assert kms_actions(with_key) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert "kms:Decrypt" in json.dumps(with_key.resources["ValidationPermissions"])


def test_every_function_that_validates_has_what_validating_takes() -> None:
    """The validator, the deployer's gate and the tracker (a queued start under a new policy) all
    validate: each role carries the one policy of what validating a version takes."""
    roles = render(config_env(2, 1), stand_ins=False).resources
    for function in ("ValidatorFunction", "DeployerFunction", "TrackerFunction"):
        # rendered without stand-ins, a Ref to a managed policy resolves to its logical id
        assert "ValidationPermissions" in roles[f"{function}Role"]["Properties"]["ManagedPolicyArns"], function
    assert "ValidationPermissions" not in roles["NotifierFunctionRole"]["Properties"]["ManagedPolicyArns"]
