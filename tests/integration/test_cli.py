"""The operator CLI against moto: provision, verify (exit codes), cleanup (dry run by default)."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner
from registry_workflow.cli import main


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_provision_then_rerun(sagemaker: Any, config_dir: Any) -> None:
    first = run("provision")
    assert first.exit_code == 0
    assert "3 created, 0 already present" in first.output

    second = run("provision")
    assert "0 created, 3 already present" in second.output


def test_verify_exit_codes(sagemaker: Any, config_dir: Any) -> None:
    assert run("verify").exit_code == 1  # nothing provisioned yet
    run("provision")
    assert run("verify").exit_code == 0

    sagemaker.create_model_package_group(ModelPackageGroupName="algo-unplanned")
    result = run("verify")
    assert result.exit_code == 1
    assert "algo-unplanned" in result.output


def test_cleanup_is_a_dry_run_without_yes(sagemaker: Any, config_dir: Any) -> None:
    run("provision")

    dry = run("cleanup")
    assert "Dry run: 3 group(s) would be deleted" in dry.output
    assert len(sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]) == 3

    real = run("cleanup", "--yes")
    assert "Deleted 3 group(s)" in real.output
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


def test_cleanup_leaves_unmanaged_groups_unless_told(sagemaker: Any, config_dir: Any) -> None:
    sagemaker.create_model_package_group(ModelPackageGroupName="rc-fraud-detection")
    assert "Nothing to clean up" in run("cleanup", "--yes").output

    run("cleanup", "--yes", "--include-unmanaged")
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


def test_bad_config_is_a_clear_error(config_dir: Any) -> None:
    (config_dir / ".env.shared").write_text("ENABLE_MODEL_REGISTRY=yes-please\n")
    result = CliRunner().invoke(main, ["provision"])
    assert result.exit_code == 2
    assert f'{config_dir}/.env.shared:1: ENABLE_MODEL_REGISTRY: is "yes-please": must be true or false' in result.output


def test_groups_prints_the_template_parameter(config_dir: Any) -> None:
    assert run("groups").output.strip() == "rc-fraud-detection,rc-anti-money-laundering,algo-recommendation-engine"


def test_every_command_has_help() -> None:
    for command in main.commands:
        result = run(command, "--help")
        assert result.exit_code == 0
        assert "Usage:" in result.output
