"""The CLI in scripts (moto): exit codes 0/1/2, `--json` schemas, --region/--profile, approve/reject,
the ledger table found from the stack, and a fast, named failure when the endpoint is unreachable."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import REGION
from registry_workflow import aws
from registry_workflow.cli import LEDGER_OUTPUT, main

GROUP = "rc-fraud-detection"
#: a command's arguments that get past usage checks (GROUP, VERSION, --reason)
ARGS: dict[str, list[str]] = {
    "history": [GROUP],
    "audit": [GROUP],
    "approve": [GROUP, "1", "--reason", "ok"],
    "reject": [GROUP, "1", "--reason", "no"],
}
#: every command that reads the config (and so exits 2 on a bad one)
READS_CONFIG = ["provision", "verify", "cleanup", "groups", "teams", "status", "approve", "reject"]


def run(*args: str, **env: str) -> Any:
    return CliRunner(mix_stderr=False).invoke(main, list(args), env=env or None)


def register(sagemaker: Any, group: str = GROUP) -> str:
    return str(
        sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:latest"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )["ModelPackageArn"]
    )


# --- exit code 2: usage and config ----------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(main.commands))
def test_an_unknown_option_is_a_usage_error_for_every_command(command: str) -> None:
    result = run(command, "--no-such-option")
    assert result.exit_code == 2
    assert "No such option" in result.stderr


@pytest.mark.parametrize("command", READS_CONFIG)
def test_a_bad_config_exits_2_with_every_problem_before_any_aws_call(
    command: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two mistakes, and no AWS at all (a closed endpoint would fail, not exit 2)
    (config_dir / ".env.shared").write_text("TEAMS=rc\nRC_PROJECTS=a\nALG_PROJECTS=b\n")
    (config_dir / "policy.toml").write_text("[defaults.validation]\nmin = { auc = nan }\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    result = run(command, *ARGS.get(command, []))

    assert result.exit_code == 2, result.output + result.stderr
    assert result.stderr.splitlines() == [
        "Error: bad config (2 problems):",
        f"{config_dir}/.env.shared:3: ALG_PROJECTS: no team of TEAMS (rc) has this key",
        f"{config_dir}/policy.toml:2: defaults.validation.min.auc: is nan: must be a finite number "
        "(NaN and infinity fail every comparison)",
    ]


def test_cleanup_of_an_unknown_group_is_a_usage_error(sagemaker: Any, config_dir: Path) -> None:
    run("provision")

    outside = run("cleanup", "--yes", "--group", "nope")
    assert outside.exit_code == 2
    assert "unknown group nope: not in the config" in outside.stderr

    near = run("cleanup", "--yes", "--group", "rc-fraud-detecton")  # under rc-, but no such group
    assert near.exit_code == 2
    assert "no managed group rc-fraud-detecton in the account or the config" in near.stderr
    assert len(sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]) == 3


def test_a_missing_profile_is_a_usage_error(config_dir: Path) -> None:
    result = run("--profile", "no-such-profile", "verify")
    assert result.exit_code == 2
    assert "no-such-profile" in result.stderr


# --- approve / reject ----------------------------------------------------------------------------


def test_approve_and_reject_set_the_status_with_the_reason(sagemaker: Any, config_dir: Path) -> None:
    run("provision")
    first, second = register(sagemaker), register(sagemaker)

    approved = run("approve", GROUP, "1", "--reason", "AUC up 2 points, reviewed the drift report")
    rejected = run("reject", GROUP, "2", "--reason", "calibration is off")

    assert (approved.exit_code, rejected.exit_code) == (0, 0), approved.stderr + rejected.stderr
    one = sagemaker.describe_model_package(ModelPackageName=first)
    two = sagemaker.describe_model_package(ModelPackageName=second)
    assert (one["ModelApprovalStatus"], one["ApprovalDescription"]) == (
        "Approved",
        "AUC up 2 points, reviewed the drift report",
    )
    assert (two["ModelApprovalStatus"], two["ApprovalDescription"]) == ("Rejected", "calibration is off")
    assert "PendingManualApproval -> Approved" in approved.output
    assert "already Approved" in run("approve", GROUP, "1", "--reason", "again").output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([GROUP, "1"], 2, "Missing option '--reason'"),
        ([GROUP, "1", "--reason", "  "], 2, "Invalid value for --reason: must say why"),
        ([GROUP, "1", "--reason", "x" * 1025], 2, "is 1025 characters: at most 1024"),
        ([GROUP, "0", "--reason", "x"], 2, "0 is not in the range x>=1"),
        (["rc-fraud-detecton", "1", "--reason", "x"], 2, "did you mean rc-fraud-detection?"),
        ([GROUP, "9", "--reason", "x"], 1, f"{GROUP} has no version 9 (versions: v1-v1)"),
    ],
)
def test_a_decision_needs_a_reason_a_known_group_and_an_existing_version(
    sagemaker: Any, config_dir: Path, args: list[str], code: int, message: str
) -> None:
    run("provision")
    arn = register(sagemaker)

    result = run("approve", *args)

    assert result.exit_code == code
    assert message in result.stderr
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "PendingManualApproval"


# --- --json ---------------------------------------------------------------------------------------


def test_groups_and_teams_as_json(config_dir: Path) -> None:
    groups = json.loads(run("groups", "--json").output)
    teams = json.loads(run("teams", "--json").output)

    assert [set(g) for g in groups] == [{"group", "team", "project", "endpoint", "deploys"}] * 3
    assert groups[0] == {
        "group": GROUP,
        "team": "rc",
        "project": "fraud-detection",
        "endpoint": "rc-fraud-detection-endpoint",
        "deploys": True,
    }
    assert teams == [
        {"team": "rc", "groups": ["rc-fraud-detection", "rc-anti-money-laundering"]},
        {"team": "algo", "groups": ["algo-recommendation-engine"]},
    ]


def test_verify_as_json_reports_drift_and_exits_1(sagemaker: Any, config_dir: Path) -> None:
    missing = run("verify", "--json")
    assert missing.exit_code == 1
    document = json.loads(missing.output)
    assert (document["ok"], document["drift"]) == (False, 3)
    assert {tuple(sorted(g)) for g in document["groups"]} == {("detail", "drift", "group", "state")}

    run("provision")
    clean = run("verify", "--json")
    assert clean.exit_code == 0
    assert json.loads(clean.output)["ok"] is True


def test_status_as_json(mocked_aws: None, config_dir: Path) -> None:
    from registry_workflow.ledger import DeploymentLedger

    DeploymentLedger("ledger-json").create_table()
    result = run("status", "--json", "--ledger-table", "ledger-json")

    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.output)
    assert [r["group"] for r in rows] == [GROUP, "rc-anti-money-laundering", "algo-recommendation-engine"]
    assert rows[0] == {
        "group": GROUP,
        "stage": "",
        "endpoint": "rc-fraud-detection-endpoint",
        "live": None,
        "in_flight": [],
        "queued": [],
    }


# --- the ledger table: given, from the stack, or the twin's ----------------------------------------

STACK_TEMPLATE = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {LEDGER_OUTPUT: {"Value": "ledger-from-stack"}},
}


def test_the_ledger_table_is_read_from_the_stack(mocked_aws: None, config_dir: Path) -> None:
    from registry_workflow.cli import ledger_table_for

    aws.client("cloudformation").create_stack(
        StackName="registry-workflow-dev", TemplateBody=json.dumps(STACK_TEMPLATE)
    )

    assert ledger_table_for(None, "registry-workflow-dev") == "ledger-from-stack"
    assert ledger_table_for(None, None) == "ledger-from-stack"  # samconfig.toml's stack_name (run from the repo)
    assert ledger_table_for("given", "registry-workflow-dev") == "given"


def test_without_a_stack_the_error_says_which_output_to_use(mocked_aws: None) -> None:
    result = run("history", GROUP, "--stack-name", "nowhere")

    assert result.exit_code == 2
    assert "stack nowhere not found" in result.stderr
    assert f"--ledger-table with its output {LEDGER_OUTPUT}" in result.stderr


def test_on_the_twin_the_ledger_is_its_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from registry_workflow.cli import TWIN_LEDGER_TABLE, ledger_table_for

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    assert ledger_table_for(None, None) == TWIN_LEDGER_TABLE == "LedgerTable"


# --- region, profile, and an unreachable endpoint ----------------------------------------------------


def test_region_applies_to_every_client(mocked_aws: None, config_dir: Path) -> None:
    run("--region", "eu-west-1", "provision")

    assert aws.client("sagemaker").meta.region_name == "eu-west-1"
    assert len(aws.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]) == 3
    aws.configure()
    assert aws.client("sagemaker").meta.region_name == REGION
    assert aws.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"] == []


def test_an_unreachable_endpoint_fails_fast_naming_it_and_the_twin(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN AWS_ENDPOINT_URL at a local port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")

    # WHEN the operator verifies
    started = time.monotonic()
    result = run("verify")
    elapsed = time.monotonic() - started

    # THEN it fails (exit 1) in seconds, not after ~50 s of retries, naming the endpoint and the twin
    assert result.exit_code == 1
    assert f"cannot reach http://127.0.0.1:{port}" in result.stderr
    assert "registry-workflow local" in result.stderr
    assert elapsed < 10  # a functional bound with wide margin: two attempts, at most 1 s of backoff
