"""A config naming a team the stack was not deployed for is refused by name, with the redeploy that fixes it.

Before this, a first `sam deploy --guided` took the template's default teams and an edited config
then failed later as AccessDenied. The provisioner (custom resource on deploy, or a hand invoke)
compares config/.env.shared's TEAMS with the stack's ManagedTeams before any claim or group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from handler_loader import handler_module
from registry_workflow.config import load_config
from registry_workflow.errors import ConfigError
from registry_workflow.provisioning import check_deployed_stages, check_deployed_teams

REDEPLOY = (
    "`make deploy STAGE=<stage> SAGEMAKER_ROLE_ARN=…` passes it from this file (`registry-workflow teams`), "
    "a bare `sam deploy` passes samconfig.toml's"
)


def test_one_missing_team_is_named_with_the_managed_teams_to_redeploy_with(config_dir: Path) -> None:
    (config_dir / ".env.shared").write_text('TEAMS="rc algo fx"\nRC_PROJECTS=a\nALGO_PROJECTS=b\nFX_PROJECTS=c\n')

    with pytest.raises(ConfigError) as raised:
        check_deployed_teams(load_config(config_dir), ["rc", "algo"])

    assert str(raised.value) == (
        f"{config_dir}/.env.shared: TEAMS: team fx is in config/.env.shared but not in the stack's "
        "ManagedTeams (rc,algo): its IAM policies and EventBridge rules do not cover fx-*. "
        f"Redeploy with ManagedTeams=rc,algo,fx: {REDEPLOY}"
    )


def test_several_missing_teams_are_all_named(config_dir: Path) -> None:
    (config_dir / ".env.shared").write_text('TEAMS="risk ml"\nRISK_PROJECTS=a\nML_PROJECTS=b\n')

    with pytest.raises(ConfigError) as raised:
        check_deployed_teams(load_config(config_dir), ["rc", "algo"])  # the template's default

    assert "teams risk, ml are in config/.env.shared but not in the stack's ManagedTeams (rc,algo)" in str(raised.value)
    assert "do not cover risk-*, ml-*. Redeploy with ManagedTeams=risk,ml:" in str(raised.value)


def test_more_teams_deployed_than_configured_is_fine(config_dir: Path) -> None:
    check_deployed_teams(load_config(config_dir), ["rc", "algo", "retired"])


def test_a_hand_invoke_refuses_it_before_creating_any_group(
    sagemaker: Any, config_dir: Path, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a stack deployed for rc only (its MANAGED_TEAMS), and the seed's config (rc, algo)
    monkeypatch.setenv("MANAGED_TEAMS", "rc")

    with pytest.raises(ConfigError, match=r"team algo is in config/.env.shared but not in .* ManagedTeams \(rc\)"):
        handler_module("provisioner").lambda_handler({}, lambda_context)

    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


# --- guarded stages: policy.toml against the stack's GuardedStages ---------------------------------

STAGES = """
[[projects."rc-fraud-detection".stages]]
name = "staging"

[[projects."rc-fraud-detection".stages]]
name = "prod"

[[projects."algo-recommendation-engine".stages]]
name = "canary"
guarded = true

[[projects."algo-recommendation-engine".stages]]
name = "production"
"""


def _staged(config_dir: Path) -> None:
    policy = config_dir / "policy.toml"
    policy.write_text(policy.read_text() + STAGES)


def test_a_guarded_stage_the_stack_does_not_guard_is_named_with_the_redeploy(config_dir: Path) -> None:
    _staged(config_dir)

    with pytest.raises(ConfigError) as raised:
        check_deployed_stages(load_config(config_dir), ["production"])  # the template's default

    assert str(raised.value) == (
        f"{config_dir}/policy.toml: stages: stages canary, prod are guarded in policy.toml "
        "(rc-fraud-detection, algo-recommendation-engine) but not in the stack's GuardedStages (production): "
        "its IAM policies let any approver ask for them, and no promoter. "
        "Redeploy with GuardedStages=canary,prod,production: `make deploy STAGE=<stage> SAGEMAKER_ROLE_ARN=…` "
        "passes it from policy.toml (`registry-workflow guarded-stages`), a bare `sam deploy` passes samconfig.toml's"
    )


def test_stages_are_compared_exactly_as_iam_compares_them(config_dir: Path) -> None:
    _staged(config_dir)
    config = load_config(config_dir)
    check_deployed_stages(config, ["canary", "prod", "production", "retired"])  # more guarded: fine
    # the promoter's condition is StringEquals: "Prod" lets no promoter ask for "prod" (and the
    # approver's IgnoreCase keeps approvers out): nobody could
    with pytest.raises(ConfigError) as raised:
        check_deployed_stages(config, ["canary", "Prod", "production"])
    assert "spelled differently in the stack's GuardedStages: prod (the stack has Prod)" in str(raised.value)
    assert "no one could ask for it. Redeploy with GuardedStages=canary,prod,production" in str(raised.value)


def test_a_hand_invoke_refuses_an_unguarded_stage_before_creating_any_group(
    sagemaker: Any, config_dir: Path, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _staged(config_dir)
    monkeypatch.setenv("GUARDED_STAGES", "canary,production")

    with pytest.raises(
        ConfigError, match=r"stage prod is guarded in policy.toml .* GuardedStages \(canary,production\)"
    ):
        handler_module("provisioner").lambda_handler({}, lambda_context)

    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
