"""Stages in policy.toml (issue 12): what a staged project is, and every mistake refused with its place."""

from __future__ import annotations

import pytest
from registry_workflow.config import parse_config
from registry_workflow.errors import ConfigError

ENV = "TEAMS=rc\nRC_PROJECTS=a\n"
BASE = '[defaults.validation]\nmin = {}\n\n[projects."rc-a".deploy]\ninstance_type = "ml.m5.xlarge"\n'
TWO = """
[[projects."rc-a".stages]]
name = "staging"
soak_minutes = 30

[[projects."rc-a".stages]]
name = "production"
strategy = "canary"
instance_count = 2
"""


def test_stages_are_endpoints_in_order_that_inherit_the_deploy_table() -> None:
    project = parse_config(ENV, BASE + TWO).project_for_group("rc-a")
    assert project is not None
    assert project.is_staged
    staging, production = project.stages
    assert (staging.name, staging.endpoint, staging.index, staging.soak_minutes) == ("staging", "rc-a-staging", 0, 30)
    assert (production.name, production.endpoint, production.deploy.strategy) == (
        "production",
        "rc-a-production",
        "canary",
    )
    assert staging.deploy.instance_type == production.deploy.instance_type == "ml.m5.xlarge"  # inherited
    assert project.endpoint_name == "rc-a-staging"  # approvals go to the first stage


def test_a_project_without_stages_has_one_unnamed_stage_its_deploy_table() -> None:
    project = parse_config(ENV, BASE).project_for_group("rc-a")
    assert project is not None
    [only] = project.stages
    assert (only.endpoint, only.label, project.is_staged) == ("rc-a-endpoint", "", False)


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ('[[projects."rc-a".stages]]\nname = "staging"\n', "lists one stage: staged promotion needs two or more"),
        (TWO.replace('"production"', '"staging"'), 'stage "staging" is listed twice'),
        (TWO.replace("soak_minutes = 30", "enabled = false"), "a stage has no enabled key"),
        (TWO.replace('name = "production"', 'name = "prod uction"'), "projects.rc-a.stages.name"),
        (
            TWO.replace("soak_minutes = 30", 'endpoint_name = "rc-a-x"')
            + '\n[[projects."rc-a".stages]]\nname = "dr"\nendpoint_name = "rc-a-x"\n',
            'endpoint "rc-a-x" is used by two stages',
        ),
        (
            TWO.replace("soak_minutes = 30", 'endpoint_name = "other-x"'),
            'must be lowercase, start with the team prefix "rc-"',
        ),
        (TWO.replace("soak_minutes = 30", "soak_minutes = -1"), "projects.rc-a.stages.soak_minutes"),
        (TWO.replace("soak_minutes = 30", 'instance_count = 1\nstrategy = "canary"'), "needs at least 2 instances"),
    ],
)
def test_stage_mistakes_are_refused_with_the_key(stages: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(ENV, BASE + stages)
    assert message in str(caught.value)


def test_the_last_stage_is_guarded_unless_policy_toml_says_otherwise() -> None:
    staging, production = parse_config(ENV, BASE + TWO).projects[0].stages
    assert (staging.guarded, production.guarded) == (False, True)

    three = TWO.replace("soak_minutes = 30", "soak_minutes = 30\nguarded = true") + (
        '\n[[projects."rc-a".stages]]\nname = "dr"\nguarded = false\n'
    )
    config = parse_config(ENV, BASE + three)
    assert [(s.name, s.guarded) for s in config.projects[0].stages] == [
        ("staging", True),
        ("production", False),
        ("dr", False),
    ]
    assert config.guarded_stages == ["staging"]


def test_guarded_stages_are_every_projects_guarded_stage_once() -> None:
    env = "TEAMS=rc\nRC_PROJECTS=a b c\n"
    other = TWO.replace('"rc-a"', '"rc-b"').replace('"production"', '"prod"')
    config = parse_config(env, BASE + TWO + other)  # rc-c has no stages: nothing guarded there
    assert config.guarded_stages == ["prod", "production"]
    assert [p.group_name for p in config.projects if p.guards("production")] == ["rc-a"]
    assert not config.project_for_group("rc-c").guards("default")  # type: ignore[union-attr]
    assert parse_config(env, BASE).guarded_stages == []


def test_guarded_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(ENV, BASE + TWO.replace("soak_minutes = 30", 'guarded = "yes"'))
    assert "projects.rc-a.stages.guarded" in str(caught.value)


def test_one_stage_name_is_guarded_in_every_project_or_in_none() -> None:
    env = "TEAMS=rc\nRC_PROJECTS=a b\n"
    open_production = TWO.replace('"rc-a"', '"rc-b"').replace(
        'name = "production"', 'name = "Production"\nguarded = false'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(env, BASE + TWO + open_production)
    assert 'stage "Production" is guarded in rc-a and not in rc-b' in str(caught.value)
    assert "projects.rc-b.stages.guarded" in str(caught.value)

    # guarded in both, spelled differently: both names are guarded (the promoter may ask for either)
    both = TWO.replace('"rc-a"', '"rc-b"').replace('name = "production"', 'name = "Production"')
    assert parse_config(env, BASE + TWO + both).guarded_stages == ["Production", "production"]


def test_with_nothing_guarded_the_parameter_names_no_stage_anyone_has() -> None:
    unguarded = TWO.replace('name = "production"', 'name = "production"\nguarded = false')
    config = parse_config(ENV, BASE + unguarded)
    assert config.guarded_stages == []
    assert config.guarded_stages_parameter == "-"  # not "production": that stage is open to approvers
    other = unguarded.replace('"production"', '"prod"')
    assert parse_config(ENV, BASE + other).guarded_stages_parameter == "production"  # the template's default
    assert parse_config(ENV, BASE).guarded_stages_parameter == "production"
