"""Config: the seed's .env.shared read unchanged; bad config fails naming key and value."""

from __future__ import annotations

import pytest
from registry_workflow.config import load_config, parse_config, team_key
from registry_workflow.errors import ConfigError

SEED = """\
ENABLE_MODEL_REGISTRY=true   # whether the model-registry module is enabled
TEAMS="rc algo"
RC_PROJECTS="fraud-detection anti-money-laundering"
ALGO_PROJECTS="recommendation-engine"
"""


def test_seed_file_gives_the_three_seed_groups() -> None:
    config = parse_config(SEED)
    assert config.enabled
    assert config.group_names == [
        "rc-fraud-detection",
        "rc-anti-money-laundering",
        "algo-recommendation-engine",
    ]


def test_shipped_config_is_the_seed() -> None:
    config = load_config("config")
    assert config.group_names == [
        "rc-fraud-detection",
        "rc-anti-money-laundering",
        "algo-recommendation-engine",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "TEAMS=rc,algo\nRC_PROJECTS=fraud-detection,anti-money-laundering\nALGO_PROJECTS=recommendation-engine\n",
        "# comment\n\nTEAMS='rc  algo'\nRC_PROJECTS = 'fraud-detection, anti-money-laundering'\n\n"
        "ALGO_PROJECTS=recommendation-engine # trailing comment\n",
        'export TEAMS="rc algo"\nexport RC_PROJECTS="fraud-detection anti-money-laundering"\n'
        "export ALGO_PROJECTS=recommendation-engine\n",
    ],
)
def test_separators_quotes_comments_and_export(text: str) -> None:
    assert parse_config(text).group_names == [
        "rc-fraud-detection",
        "rc-anti-money-laundering",
        "algo-recommendation-engine",
    ]


def test_team_key_upper_cases_and_replaces_hyphens() -> None:
    assert team_key("data-sci") == "DATA_SCI_PROJECTS"
    assert parse_config("TEAMS=data-sci\nDATA_SCI_PROJECTS=churn\n").group_names == ["data-sci-churn"]


def test_disabled_registry_has_no_projects() -> None:
    config = parse_config("ENABLE_MODEL_REGISTRY=false\nTEAMS=rc\nRC_PROJECTS=x\n")
    assert not config.enabled
    assert config.projects == ()


@pytest.mark.parametrize(
    ("text", "key", "value_fragment"),
    [
        ("TEAMS=rc\n", "RC_PROJECTS", "None"),
        ("TEAMS=rc\nRC_PROJECTS=\n", "RC_PROJECTS", "''"),
        ("ENABLE_MODEL_REGISTRY=maybe\nTEAMS=rc\nRC_PROJECTS=a\n", "ENABLE_MODEL_REGISTRY", "maybe"),
        ("TEAMS=rc\nRC_PROJECTS=fraud_detection\n", "RC_PROJECTS", "fraud_detection"),
        ("TEAMS=rc\nRC_PROJECTS=" + "x" * 61 + "\n", "RC_PROJECTS", "x" * 61),
        ("TEAMS=rc\nRC_PROJECTS=a-\n", "RC_PROJECTS", "a-"),
        ("TEAMS=rc\nRC_PROJECTS=a a\n", "RC_PROJECTS", "'a'"),
        ("TEAMS=rc rc-a\nRC_PROJECTS=a-b\nRC_A_PROJECTS=b\n", "RC_A_PROJECTS", "'b'"),
        ("TEAMS=\n", "TEAMS", "''"),
    ],
)
def test_bad_env_names_key_and_value(text: str, key: str, value_fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.key == key
    assert value_fragment in str(caught.value)


@pytest.mark.parametrize(
    ("policy", "key"),
    [
        ("[defaults.validation]\nauto_aprove = true\n", "defaults.validation.auto_aprove"),
        ('[projects."rc-a".deploy]\nstrategy = "yolo"\n', "projects.rc-a.deploy.strategy"),
        ('[projects."rc-a".deploy]\ninstance_count = 0\n', "projects.rc-a.deploy.instance_count"),
        ('[projects."rc-zzz".deploy]\nstrategy = "canary"\n', "projects.rc-zzz"),
        ("[deploy]\nstrategy = 'canary'\n", "deploy"),
        ("[defaults.validation]\nmin = { auc = 0.8 }\nmax = { auc = 0.9 }\n", "defaults.validation"),
        ("not toml at all [", "policy.toml"),
        ('[projects."rc-a".deploy]\nstrategy = "canary"\n', "projects.rc-a.deploy"),
        (
            '[projects."rc-a".deploy]\nstrategy = "linear"\ninstance_count = 4\ntraffic_percent = 5\n',
            "projects.rc-a.deploy",
        ),
        ('[projects."rc-a".deploy]\nendpoint_name = "shared-endpoint"\n', "projects.rc-a.deploy.endpoint_name"),
    ],
)
def test_bad_policy_names_the_key(policy: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("TEAMS=rc\nRC_PROJECTS=a\n", policy)
    assert caught.value.key == key


def test_project_policy_overrides_defaults_key_by_key() -> None:
    policy = """
[defaults.deploy]
instance_type = "ml.c5.large"
instance_count = 2
strategy = "linear"
[projects."rc-a".deploy]
strategy = "canary"
"""
    config = parse_config("TEAMS=rc\nRC_PROJECTS=a b\n", policy)
    a, b = config.projects
    assert (a.policy.deploy.strategy, a.policy.deploy.instance_type) == ("canary", "ml.c5.large")
    assert (b.policy.deploy.strategy, b.policy.deploy.instance_type) == ("linear", "ml.c5.large")
    assert a.policy.digest() != b.policy.digest()


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("TEAMS=RC\nRC_PROJECTS=a\n", "TEAMS", "RC"),
        ("TEAMS=rc\nRC_PROJECTS=FraudDetection\n", "RC_PROJECTS", "FraudDetection"),
    ],
)
def test_uppercase_names_are_refused(text: str, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match="must be lowercase") as caught:
        parse_config(text)
    assert (caught.value.key, caught.value.value) == (key, value)


def test_a_deploying_team_must_leave_room_for_its_names() -> None:
    team = "t" * 47  # model and config names keep "-v<N>-<digest8>" and must start with "<team>-"
    with pytest.raises(ConfigError, match="at most 46") as caught:
        parse_config(f"TEAMS={team}\n{team.upper()}_PROJECTS=p\n")
    assert caught.value.key == "TEAMS"
    (project,) = parse_config(
        f"TEAMS={team}\n{team.upper()}_PROJECTS=p\n", f'[projects."{team}-p".deploy]\nenabled = false\n'
    ).projects
    assert project.group_name == f"{team}-p"


def test_a_long_group_of_a_short_team_deploys() -> None:
    name = "p" * 58  # rc-ppp…: 61 characters; its names are cut but keep "rc-"
    (project,) = parse_config(f"TEAMS=rc\nRC_PROJECTS={name}\n").projects
    assert project.endpoint_name.startswith("rc-")
    assert len(project.endpoint_name) <= 63


def test_safe_defaults() -> None:
    (project,) = parse_config("TEAMS=rc\nRC_PROJECTS=a\n").projects
    assert project.policy.validation.auto_approve is False
    assert project.policy.validation.on_missing_metrics == "reject"
    assert project.endpoint_name == "rc-a-endpoint"


def test_longest_deployable_group_keeps_its_name_as_the_endpoint_prefix() -> None:
    name = "p" * 44
    (project,) = parse_config(f"TEAMS=rc\nRC_PROJECTS={name}\n").projects
    assert len(project.group_name) == 47
    assert project.endpoint_name == f"{project.group_name}-endpoint"
    assert len(project.endpoint_name) + len("-v99999") == 63


def test_missing_config_dir_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"no \.env\.shared"):
        load_config(tmp_path)
