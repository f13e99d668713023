"""Config of Slack approvals: `approval.slack` and `approval.slack_approvers`, errors at their line."""

from __future__ import annotations

import pytest
from registry_workflow.config import parse_config
from registry_workflow.errors import ConfigError

SEED = """\
ENABLE_MODEL_REGISTRY=true
TEAMS="rc algo"
RC_PROJECTS="fraud-detection anti-money-laundering"
ALGO_PROJECTS="recommendation-engine"
"""
BASE = "[defaults.validation]\nmin = {}\n"


def errors(policy: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(SEED, BASE + policy)
    return str(raised.value).splitlines()


def test_slack_approvals_are_off_by_default() -> None:
    approval = parse_config(SEED, BASE).project_for_group("rc-fraud-detection").policy.approval  # type: ignore[union-attr]
    assert approval.slack is False
    assert approval.slack_approvers == {}


def test_approvers_per_team_plain_ids_or_tied_to_iam_identities() -> None:
    # GIVEN one project with Slack approvals and approvers for both teams, one tied to IAM
    config = parse_config(
        SEED,
        BASE
        + '[projects."rc-fraud-detection".approval]\nslack = true\n'
        + "[defaults.approval.slack_approvers]\n"
        + 'rc = ["U012AB3CD", { user = "U0AUTHOR", iam = ["arn:aws:sts::*:assumed-role/*/alice"] }]\n'
        + 'algo = ["W0GRIDUSER"]\n',
    )
    fraud = config.project_for_group("rc-fraud-detection")
    aml = config.project_for_group("rc-anti-money-laundering")
    assert fraud is not None
    assert aml is not None
    # THEN the project has Slack on, the team's approvers apply, the others' projects keep it off
    assert fraud.policy.approval.slack
    assert [a.user for a in fraud.policy.approval.slack_approvers["rc"]] == ["U012AB3CD", "U0AUTHOR"]
    assert fraud.policy.approval.slack_approvers["rc"][1].iam == ["arn:aws:sts::*:assumed-role/*/alice"]
    assert not aml.policy.approval.slack


def test_slack_on_without_an_approver_of_the_team_is_an_error_at_its_line() -> None:
    policy = '[projects."rc-fraud-detection".approval]\nslack = true\n'
    assert errors(policy) == [
        "policy.toml:4: projects.rc-fraud-detection.approval.slack: is true for rc-fraud-detection, but "
        'approval.slack_approvers names no Slack user of team "rc": add rc = ["U…"] to '
        "[defaults.approval.slack_approvers]"
    ]


def test_a_team_that_is_not_in_teams_is_named_with_a_suggestion() -> None:
    policy = '[defaults.approval.slack_approvers]\nrcc = ["U012AB3CD"]\n'
    assert errors(policy) == [
        'policy.toml:4: defaults.approval.slack_approvers.rcc: team "rcc" is not in TEAMS; did you mean rc? '
        "(teams: rc, algo)"
    ]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('"u012ab3cd"', 'rc.user: item 1 is "u012ab3cd": must be a Slack user id'),
        ('"@alice"', 'rc.user: item 1 is "@alice": must be a Slack user id'),
        ('{ user = "U012AB3CD", iam = ["alice"] }', 'rc.iam: item 1 is "alice": must be an IAM role or user ARN'),
        ('{ user = "U012AB3CD", role = "lead" }', "rc.role: item 1 unknown key (allowed: user, iam)"),
        ("7", "rc: item 1 is 7: must be a table"),
    ],
)
def test_bad_entries_say_what_is_wrong(entry: str, problem: str) -> None:
    [line] = errors(f"[defaults.approval.slack_approvers]\nrc = [{entry}]\n")
    assert line.startswith("policy.toml:4: defaults.approval.slack_approvers.")
    assert problem in line


def test_slack_must_be_a_boolean() -> None:
    [line] = errors('[defaults.approval]\nslack = "yes"\n')
    assert line == 'policy.toml:4: defaults.approval.slack: is "yes": must be true or false'
