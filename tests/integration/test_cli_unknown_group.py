"""`history` and `audit` of a group the config does not know exit 2, as `cleanup --group` does (moto)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from registry_workflow.cli import main
from registry_workflow.ledger import DeploymentLedger

LEDGER_TABLE = "ledger-unknown-group"
GROUPS = "rc-fraud-detection, rc-anti-money-laundering, algo-recommendation-engine"


def run(*args: str) -> Any:
    return CliRunner(mix_stderr=False).invoke(main, list(args))


@pytest.fixture
def ledger(mocked_aws: None, config_dir: Path) -> DeploymentLedger:
    table = DeploymentLedger(LEDGER_TABLE)
    table.create_table()
    return table


@pytest.mark.parametrize("command", ["history", "audit"])
def test_a_group_outside_every_team_exits_2_before_any_aws_call(
    command: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no AWS at all: a closed endpoint would fail (exit 1), not exit 2
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    result = run(command, "nope")

    assert result.exit_code == 2, result.output + result.stderr
    assert result.stderr == f"Error: unknown group nope: not in the config (groups: {GROUPS})\n"
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["history", "audit"])
def test_the_group_is_checked_before_the_ledger_table_is_looked_up(
    command: str, mocked_aws: None, config_dir: Path
) -> None:
    # GIVEN no --ledger-table: the table would be read from the outputs of a stack that is not there
    result = run(command, "nope", "--stack-name", "nowhere")

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: unknown group nope: not in the config")


@pytest.mark.parametrize("command", ["history", "audit"])
def test_a_typo_under_a_teams_prefix_with_nothing_recorded_exits_2_with_a_suggestion(
    command: str, ledger: DeploymentLedger
) -> None:
    result = run(command, "rc-fraud-detectoin", "--ledger-table", LEDGER_TABLE)

    assert result.exit_code == 2, result.output + result.stderr
    assert result.stderr == (
        "Error: unknown group rc-fraud-detectoin: not in the config; did you mean rc-fraud-detection? "
        f"(groups: {GROUPS})\n"
    )


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("history", "no deployments recorded for rc-fraud-detection"),
        ("audit", "no audit entries for rc-fraud-detection"),
    ],
)
def test_a_configured_group_with_nothing_recorded_is_not_an_error(
    command: str, says: str, ledger: DeploymentLedger
) -> None:
    result = run(command, "rc-fraud-detection", "--ledger-table", LEDGER_TABLE)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == says


def test_a_removed_projects_audit_trail_stays_readable(ledger: DeploymentLedger) -> None:
    # GIVEN a group of team rc that the config no longer lists, with its audit trail
    from registry_workflow.audit import AuditTrail

    AuditTrail(LEDGER_TABLE).record("rc-retired", "registered", key="k1", version=1, actor="someone")

    result = run("audit", "rc-retired", "--ledger-table", LEDGER_TABLE, "--json")

    assert result.exit_code == 0, result.stderr
    assert '"group": "rc-retired"' in result.stdout


@pytest.mark.parametrize("command", ["history", "audit"])
def test_a_bad_config_exits_2_before_any_aws_call(
    command: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config_dir / ".env.shared").write_text("TEAMS=rc\nRC_PROJECTS=a\nALG_PROJECTS=b\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    result = run(command, "rc-a")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: bad config:",
        f"{config_dir}/.env.shared:3: ALG_PROJECTS: no team of TEAMS (rc) has this key",
    ]
