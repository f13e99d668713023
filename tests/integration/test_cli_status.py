"""`registry-workflow status` and `history` print the ledger of a deployment scenario (moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import ACCOUNT
from deploy_support import (
    ENDPOINT,
    GROUP,
    LEDGER_TABLE,
    DeployWorld,
    endpoint_event,
    make_world,
    register_version,
    set_approval,
    set_endpoint_status,
)
from handler_loader import handler_module
from registry_workflow.cli import main


@pytest.fixture
def scenario(mocked_aws: None, config_dir: Path, monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> DeployWorld:
    """v1 live, v2 in flight, v3 queued behind it."""
    world = make_world(monkeypatch, config_dir)
    deployer, tracker = handler_module("deployer").lambda_handler, handler_module("tracker").lambda_handler
    v1, v2, v3 = (register_version(world.sagemaker) for _ in range(3))
    deployer(set_approval(world.sagemaker, v1, "Approved"), lambda_context)
    tracker(endpoint_event(world.sagemaker), lambda_context)
    deployer(set_approval(world.sagemaker, v2, "Approved"), lambda_context)
    set_endpoint_status(ENDPOINT, "Updating")
    deployer(set_approval(world.sagemaker, v3, "Approved"), lambda_context)
    return world


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_status_shows_live_in_flight_and_queued(scenario: DeployWorld, config_dir: Path) -> None:
    result = run("status", "--config-dir", str(config_dir))

    assert result.exit_code == 0, result.output
    (line,) = [row for row in result.output.splitlines() if row.startswith(f"{GROUP} ")]
    cells = line.split()
    assert cells[:3] == [GROUP, ENDPOINT, "v1"]
    assert f"arn:aws:iam::{ACCOUNT}:root" in line  # approved by
    assert "v2 (deploy)" in line  # in flight
    assert line.rstrip().endswith("v3")  # queued
    live = scenario.ledger.live(ENDPOINT)
    assert live is not None
    assert live.finished_at
    assert live.finished_at in line  # since when
    assert "rc-anti-money-laundering-endpoint" in result.output


def test_history_as_a_table_and_as_json(scenario: DeployWorld) -> None:
    table = run("history", GROUP)
    as_json = run("history", GROUP, "--json")

    assert table.exit_code == as_json.exit_code == 0
    assert [row.split()[3] for row in table.output.splitlines()[2:]] == ["succeeded", "in_progress", "queued"]
    records = json.loads(as_json.output)
    assert [(r["version"], r["status"]) for r in records] == [
        (1, "succeeded"),
        (2, "in_progress"),
        (3, "queued"),
    ]
    assert {r["endpoint"] for r in records} == {ENDPOINT}


def test_history_of_a_group_without_deployments(scenario: DeployWorld) -> None:
    assert "no deployments recorded" in run("history", "rc-anti-money-laundering").output


def test_ledger_table_comes_from_the_environment(scenario: DeployWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_TABLE", LEDGER_TABLE)
    assert len(json.loads(run("history", GROUP, "--json").output)) == 3
    monkeypatch.setenv("LEDGER_TABLE", "no-such-table")
    assert run("history", GROUP).exit_code == 1


def test_audit_prints_the_trail_and_verifies_it(scenario: DeployWorld) -> None:
    # WHEN the operator asks for the group's audit trail, checked
    result = run("audit", GROUP, "--ledger-table", LEDGER_TABLE, "--verify")

    # THEN every transition is there, oldest first, and the chain holds
    assert result.exit_code == 0, result.output
    assert "chain verified:" in result.output
    whats = [line.split()[3] for line in result.output.splitlines()[2:] if line[:1].isdecimal()]
    assert whats[:4] == ["validated", "validated", "validated", "approved"]
    assert {"deploying", "deployed", "queued"} <= set(whats)


def test_audit_verify_exits_1_naming_an_edited_entry(scenario: DeployWorld) -> None:
    # GIVEN someone edited the first entry in the table
    from registry_workflow import aws

    key = {"pk": {"S": f"AUDIT#{GROUP}"}, "sk": {"S": f"ENTRY#{1:012d}"}}
    dynamodb = aws.client("dynamodb")
    item = dynamodb.get_item(TableName=LEDGER_TABLE, Key=key)["Item"]
    item["entry"]["S"] = item["entry"]["S"].replace('"passed"', '"failed"')
    dynamodb.put_item(TableName=LEDGER_TABLE, Item=item)

    # WHEN the trail is verified, for machines
    result = CliRunner().invoke(main, ["audit", GROUP, "--ledger-table", LEDGER_TABLE, "--verify", "--json"])

    # THEN the exit code is 1, the JSON names entry 1, and the message after it says why
    # (click < 8.2 mixes stderr into the output: the JSON document comes first)
    assert result.exit_code == 1
    payload, _ = json.JSONDecoder().raw_decode(result.output)
    assert payload["verify"]["ok"] is False
    assert payload["verify"]["first_bad_seq"] == 1
    assert "entry 1: its content does not match its hash (changed)" in result.output
