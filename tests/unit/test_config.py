"""Config: the seed's .env.shared read unchanged; bad config fails naming key and value."""

from __future__ import annotations

import pytest
from registry_workflow.config import load_config, parse_config, team_key
from registry_workflow.errors import ConfigError

NO_POLICY = (
    "not found: without a policy no version is checked against any threshold. Write one "
    '(README.md, "Configuration"); to review by hand without thresholds, say so: [defaults.validation] min = {}'
)

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
    ("text", "key", "message"),
    [
        ("TEAMS=rc\n", "RC_PROJECTS", '1: RC_PROJECTS: is not set: team "rc" is in TEAMS'),
        ("TEAMS=rc\nRC_PROJECTS=\n", "RC_PROJECTS", '2: RC_PROJECTS: lists no project: team "rc" needs at least one'),
        (
            "ENABLE_MODEL_REGISTRY=maybe\nTEAMS=rc\nRC_PROJECTS=a\n",
            "ENABLE_MODEL_REGISTRY",
            '1: ENABLE_MODEL_REGISTRY: is "maybe": must be true or false',
        ),
        ("TEAMS=rc\nRC_PROJECTS=fraud_detection\n", "RC_PROJECTS", 'project "fraud_detection": group name'),
        ("TEAMS=rc\nRC_PROJECTS=" + "x" * 61 + "\n", "RC_PROJECTS", "is 64 characters: SageMaker allows at most 63"),
        ("TEAMS=rc\nRC_PROJECTS=a-\n", "RC_PROJECTS", 'project "a-"'),
        ("TEAMS=rc\nRC_PROJECTS=a a\n", "RC_PROJECTS", 'group "rc-a" is already defined by RC_PROJECTS'),
        (
            "TEAMS=rc rc-a\nRC_PROJECTS=a-b\nRC_A_PROJECTS=b\n",
            "TEAMS",  # the first of two: the overlapping team (line 1), the duplicate group (line 3)
            '3: RC_A_PROJECTS: project "b": group "rc-a-b" is already defined by RC_PROJECTS',
        ),
        ("TEAMS=\n", "TEAMS", 'TEAMS: lists no team: name at least one, e.g. TEAMS="rc algo"'),
    ],
)
def test_bad_env_names_key_and_line(text: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.key == key
    assert message in str(caught.value)
    assert "None" not in str(caught.value)


@pytest.mark.parametrize(
    ("policy", "key"),
    [
        ("[defaults.validation]\nauto_aprove = true\n", "defaults.validation.auto_aprove"),
        ('[projects."rc-a".deploy]\nstrategy = "yolo"\n', "projects.rc-a.deploy.strategy"),
        ('[projects."rc-a".deploy]\ninstance_count = 0\n', "projects.rc-a.deploy.instance_count"),
        ('[projects."rc-zzz".deploy]\nstrategy = "all-at-once"\n', "projects.rc-zzz"),
        ("[deploy]\nstrategy = 'canary'\n", "deploy"),
        ("[defaults.validation]\nmin = { auc = 0.8 }\nmax = { auc = 0.9 }\n", "defaults.validation"),
        ("not toml at all [", "TOML syntax"),
        ('[projects."rc-a".deploy]\nstrategy = "canary"\n', "projects.rc-a.deploy.instance_count"),
        (
            '[projects."rc-a".deploy]\nstrategy = "linear"\ninstance_count = 4\ntraffic_percent = 5\n',
            "projects.rc-a.deploy.traffic_percent",
        ),
        ('[projects."rc-a".deploy]\nendpoint_name = "shared-endpoint"\n', "projects.rc-a.deploy.endpoint_name"),
    ],
)
def test_bad_policy_names_the_key(policy: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("TEAMS=rc\nRC_PROJECTS=a\n", policy)
    assert caught.value.key == key
    assert "Extra inputs" not in str(caught.value)


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
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value).splitlines() == [
        f"{tmp_path}: .env.shared: not found: the teams and projects live there (--config-dir or REGISTRY_CONFIG_DIR)",
        f"{tmp_path}: policy.toml: {NO_POLICY}",
    ]


# --- the operator's mistakes (issue 16): each refused with file, line, key, and what is allowed ---

ENV = ".env.shared"
POLICY = "policy.toml"
ONE_TEAM = "TEAMS=rc\nRC_PROJECTS=a\n"


def errors_of(env: str, policy: str | None = "[defaults.validation]\nmin = {}\n") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(env, policy, env_source=ENV, policy_source=POLICY)
    return str(caught.value).splitlines()


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            "[defaults.validation]\nmin = { auc = nan }\n",
            "policy.toml:2: defaults.validation.min.auc: is nan: must be a finite number "
            "(NaN and infinity fail every comparison)",
        ),
        (
            "[defaults.validation]\nmin = { auc = true }\n",
            "policy.toml:2: defaults.validation.min.auc: is true: must be a number (without quotes)",
        ),
        (
            '[projects."rc-a".deploy]\ninstance_count = "2"\n',
            'policy.toml:2: projects.rc-a.deploy.instance_count: is "2": must be a whole number (without quotes)',
        ),
        (
            "# nothing but a comment\n",
            "policy.toml: sets nothing: " + NO_POLICY.removeprefix("not found: "),
        ),
        (
            "[defaults]\n[defaults.validation]\n",
            "policy.toml: sets nothing: " + NO_POLICY.removeprefix("not found: "),
        ),
        (
            '[projects."rc-a".deploy]\nstrategy = "canary"\n',
            'policy.toml:1: projects.rc-a.deploy.instance_count: is 1: strategy "canary" needs at least 2 instances '
            "(a canary or linear step is at most half the fleet; on one instance SageMaker refuses the update); "
            'use 2 or more, or strategy "all-at-once"',
        ),
        (
            "[defaults.validation]\nauto_aprove = true\n",
            "policy.toml:2: defaults.validation.auto_aprove: unknown key; did you mean auto_approve? (allowed: min, "
            "max, max_regression, on_missing_metrics, auto_reject, auto_approve)",
        ),
        (
            '[projects."rc-b".deploy]\nenabled = false\n',
            "policy.toml:1: projects.rc-b: policy for a group .env.shared does not define; did you mean rc-a? "
            "(groups: rc-a)",
        ),
        (
            '[defaults.deploy]\nstrategy = "blue-green"\n',
            'policy.toml:2: defaults.deploy.strategy: is "blue-green": must be one of "all-at-once", "canary" or '
            '"linear"',
        ),
        (
            "[defaults.validation\nmin = {}\n",
            "policy.toml:1: TOML syntax: Expected ']' at the end of a table declaration (column 21)",
        ),
    ],
)
def test_each_policy_mistake_has_its_exact_message(policy: str, message: str) -> None:
    assert errors_of(ONE_TEAM, policy) == [message]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            "TEAMS=rc\nthis is garbage\nRC_PROJECTS=a\n",
            '.env.shared:2: "this is garbage": not a KEY=VALUE line (comments start with #)',
        ),
        (
            "TEAMS='rc algo\nRC_PROJECTS=a\n",
            ".env.shared:1: TEAMS: unterminated quote: the value opens with ' and the line has no closing '",
        ),
        (
            "TEAMS=ml\nML_PROJECTS=a--b\n",
            '.env.shared:2: ML_PROJECTS: project "a--b": group name "ml-a--b" has a double hyphen: names use '
            "single hyphens",
        ),
        (
            "TEAMS=rc\nRC_PROJECTS=a\nTEAMS=rc\n",
            ".env.shared:3: TEAMS: is set twice (also on line 1): keep one",
        ),
        ("TEMAS=rc\nRC_PROJECTS=a\n", ".env.shared:1: TEMAS: unknown key; did you mean TEAMS?"),
    ],
)
def test_each_env_mistake_has_its_exact_message(env: str, message: str) -> None:
    assert message in errors_of(env)


def test_a_misspelled_projects_key_names_the_key_meant() -> None:
    assert errors_of('TEAMS="rc algo"\nRC_PROJECTS=a\nALG_PROJECTS=b\n') == [
        '.env.shared:1: ALGO_PROJECTS: is not set: team "algo" is in TEAMS; add ALGO_PROJECTS="<project> …"',
        ".env.shared:3: ALG_PROJECTS: no team of TEAMS (rc, algo) has this key; did you mean ALGO_PROJECTS?",
    ]


def test_other_keys_of_the_seed_file_are_left_alone() -> None:
    assert parse_config(ONE_TEAM + "ENABLE_FEATURE_STORE=true\nAWS_REGION=eu-west-1\n").group_names == ["rc-a"]


def test_every_mistake_is_reported_at_once_in_file_order() -> None:
    env = 'TEAMS="rc algo"\nRC_PROJECTS=a\nALGO_PROJECTS="x\nENABLE_MODEL_REGISTRY=maybe\n'
    policy = '[defaults.validation]\nmin = { auc = nan }\n\n[projects."rc-a".deploy]\ninstance_count = "2"\n'
    lines = errors_of(env, policy)
    assert [line.split(": ", 2)[:2] for line in lines] == [
        [".env.shared:3", "ALGO_PROJECTS"],
        [".env.shared:4", "ENABLE_MODEL_REGISTRY"],
        ["policy.toml:2", "defaults.validation.min.auc"],
        ["policy.toml:5", "projects.rc-a.deploy.instance_count"],
    ]
    for line in lines:
        assert "None" not in line
        assert "{'" not in line  # no Python dict repr


def test_the_error_keeps_the_first_problem_and_lists_all() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("TEAMS=rc\n", "[defaults.validation]\nauc = 1\n", env_source=ENV, policy_source=POLICY)
    assert (caught.value.key, caught.value.source, caught.value.line) == ("RC_PROJECTS", ENV, 1)
    assert [e.key for e in caught.value.errors] == ["RC_PROJECTS", "defaults.validation.auc"]
    assert [e.describe() for e in caught.value.errors] == str(caught.value).splitlines()


def test_a_missing_policy_file_is_refused(tmp_path) -> None:
    (tmp_path / ".env.shared").write_text(ONE_TEAM)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == f"{tmp_path}: policy.toml: {NO_POLICY}"
    (tmp_path / "policy.toml").write_text("[defaults.validation]\nmin = {}\n")
    assert load_config(tmp_path).group_names == ["rc-a"]


def test_the_shipped_policy_is_valid_and_gates_every_project() -> None:
    for project in load_config("config").projects:
        rules = project.policy.validation
        assert rules.min or rules.max or rules.max_regression, project.group_name


def test_a_slack_user_listed_twice_for_one_team_is_refused_and_one_person_may_serve_two_teams() -> None:
    # GIVEN alice listed twice for rc, each entry with some of her identities (decision 86)
    twice = (
        "[defaults.validation]\nmin = {}\n\n[defaults.approval.slack_approvers]\nrc = [\n"
        '  { user = "U0ALICE", iam = ["arn:aws:iam::123456789012:user/alice"] },\n'
        '  { user = "U0ALICE", iam = ["arn:aws:sts::123456789012:assumed-role/CI/alice"] },\n'
        '  "U0BOB",\n]\n'
    )
    # THEN the config names the team, the user and the line: the gate must read one entry per person
    assert errors_of(ONE_TEAM, twice) == [
        'policy.toml:5: defaults.approval.slack_approvers.rc: lists Slack user "U0ALICE" 2 times for team "rc": '
        'a person is one entry; put all of their IAM identities in one { user = "U0ALICE", iam = [...] }'
    ]
    # and in a project's own table, at its line
    override = (
        '[defaults.validation]\nmin = {}\n\n[projects."rc-a".approval.slack_approvers]\nrc = ["U0BOB", "U0BOB"]\n'
    )
    assert errors_of(ONE_TEAM, override) == [
        'policy.toml:5: projects.rc-a.approval.slack_approvers.rc: lists Slack user "U0BOB" 2 times for team "rc": '
        'a person is one entry; put all of their IAM identities in one { user = "U0BOB", iam = [...] }'
    ]
    # one person approving for two teams is two entries, one per team: allowed
    both = (
        '[defaults.validation]\nmin = {}\n\n[defaults.approval.slack_approvers]\nrc = ["U0ALICE"]\nalgo = ["U0ALICE"]\n'
    )
    config = parse_config(SEED, both)
    project = config.project_for_group("algo-recommendation-engine")
    assert project is not None
    assert [a.user for a in project.policy.approval.slack_approvers["algo"]] == ["U0ALICE"]
