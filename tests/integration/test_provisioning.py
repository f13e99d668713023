"""Provisioning against moto: create what is missing, no writes on a re-run, never delete."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import SEED_ENV, load_event
from handler_loader import handler_module
from registry_workflow import MANAGED_BY
from registry_workflow.config import parse_config
from registry_workflow.errors import ConfigError
from registry_workflow.provisioning import (
    GroupState,
    check_deployed_teams,
    execute_cleanup,
    plan_cleanup,
    reconcile,
    verify,
)

SEED_GROUPS = {"rc-fraud-detection", "rc-anti-money-laundering", "algo-recommendation-engine"}


def count_calls(client: Any) -> dict[str, int]:
    calls: dict[str, int] = {}

    def record(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        calls[operation] = calls.get(operation, 0) + 1

    client.meta.events.register("before-call.sagemaker.*", record)
    return calls


def seed() -> Any:
    return parse_config(SEED_ENV)


def register_version(sagemaker: Any, group: str) -> str:
    return sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]


def test_creates_exactly_the_seed_groups_tagged(sagemaker: Any) -> None:
    report = reconcile(seed(), sagemaker)

    assert set(report.names(GroupState.CREATED)) == SEED_GROUPS
    groups = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert {g["ModelPackageGroupName"] for g in groups} == SEED_GROUPS
    for group in groups:
        tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=group["ModelPackageGroupArn"])["Tags"]}
        team, _, project = group["ModelPackageGroupName"].partition("-")
        assert tags == {"team": team, "project": project, "managed-by": MANAGED_BY}


def test_rerun_on_up_to_date_account_makes_no_writes(sagemaker: Any) -> None:
    reconcile(seed(), sagemaker)
    calls = count_calls(sagemaker)

    report = reconcile(seed(), sagemaker)

    assert report.names(GroupState.CREATED) == []
    assert set(report.names(GroupState.PRESENT)) == SEED_GROUPS
    assert calls == {"ListModelPackageGroups": 1}


def test_listing_is_paginated_not_one_describe_per_group(sagemaker: Any) -> None:
    teams = " ".join(f"t{i}" for i in range(3))
    projects = "\n".join(f"T{i}_PROJECTS=" + " ".join(f"p{j}" for j in range(80)) for i in range(3))
    config = parse_config(f"TEAMS={teams}\n{projects}\n")
    reconcile(config, sagemaker)
    calls = count_calls(sagemaker)

    report = reconcile(config, sagemaker)

    assert len(report.names(GroupState.PRESENT)) == 240
    assert calls == {"ListModelPackageGroups": 3}  # ceil(240 / 100)


def test_group_created_by_someone_else_is_adopted_and_then_everyone_agrees(sagemaker: Any) -> None:
    # GIVEN a configured group someone else created (no marker, no tags)
    arn = sagemaker.create_model_package_group(ModelPackageGroupName="rc-fraud-detection")["ModelPackageGroupArn"]
    [before] = [r for r in verify(seed(), sagemaker).results if r.name == "rc-fraud-detection"]
    assert before.state == GroupState.UNMANAGED
    assert "registry-workflow provision" in before.detail  # verify says how to fix it

    # WHEN provision runs
    report = reconcile(seed(), sagemaker)

    # THEN it adopts the group (tags it) and says so; verify then sees no drift at all
    assert report.names(GroupState.ADOPTED) == ["rc-fraud-detection"]
    assert set(report.names(GroupState.CREATED)) == SEED_GROUPS - {"rc-fraud-detection"}
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]}
    assert tags == {"team": "rc", "project": "fraud-detection", "managed-by": MANAGED_BY}
    assert verify(seed(), sagemaker).drift == []
    again = reconcile(seed(), sagemaker)
    assert again.names(GroupState.ADOPTED) == []
    assert set(again.names(GroupState.PRESENT)) == SEED_GROUPS


def test_rerun_after_adoption_makes_no_writes(sagemaker: Any) -> None:
    sagemaker.create_model_package_group(ModelPackageGroupName="rc-fraud-detection")
    reconcile(seed(), sagemaker)
    calls = count_calls(sagemaker)

    reconcile(seed(), sagemaker)

    # one listing, and one tag read for the only group without the description marker
    assert calls == {"ListModelPackageGroups": 1, "ListTags": 1}


def test_adopted_group_is_cleaned_up_like_a_managed_one(sagemaker: Any) -> None:
    sagemaker.create_model_package_group(ModelPackageGroupName="rc-fraud-detection")
    sagemaker.create_model_package_group(ModelPackageGroupName="rc-not-configured")
    reconcile(seed(), sagemaker)

    plan = {item.group: item.managed for item in plan_cleanup(seed(), sagemaker)}

    assert plan["rc-fraud-detection"] is True
    assert "rc-not-configured" not in plan


def test_config_naming_a_team_the_stack_was_not_deployed_for_is_refused() -> None:
    config = parse_config("TEAMS=rc algo fx\nRC_PROJECTS=a\nALGO_PROJECTS=b\nFX_PROJECTS=c\n")

    with pytest.raises(ConfigError, match=r"team fx is in config/.env.shared but not in the stack's ManagedTeams"):
        check_deployed_teams(config, ["rc", "algo"])
    check_deployed_teams(config, ["rc", "algo", "fx", "old-team"])  # more deployed than configured: fine


def test_verify_reports_drift_for_missing_stray_and_orphaned(sagemaker: Any) -> None:
    reconcile(seed(), sagemaker)
    assert verify(seed(), sagemaker).drift == []

    sagemaker.delete_model_package_group(ModelPackageGroupName="rc-anti-money-laundering")
    sagemaker.create_model_package_group(ModelPackageGroupName="rc-shadow-project")
    sagemaker.create_model_package_group(ModelPackageGroupName="other-team-group")
    smaller = parse_config("TEAMS=rc\nRC_PROJECTS=fraud-detection anti-money-laundering\n")
    states = {r.name: r.state for r in verify(smaller, sagemaker).drift}

    assert states == {
        "algo-recommendation-engine": GroupState.ORPHANED,
        "rc-anti-money-laundering": GroupState.MISSING,
        "rc-shadow-project": GroupState.STRAY,
    }


def test_cleanup_deletes_versions_then_groups_only_managed(sagemaker: Any) -> None:
    reconcile(seed(), sagemaker)
    register_version(sagemaker, "rc-fraud-detection")
    register_version(sagemaker, "rc-fraud-detection")
    sagemaker.create_model_package_group(ModelPackageGroupName="rc-not-ours")

    plan = plan_cleanup(seed(), sagemaker)
    assert {item.group: len(item.versions) for item in plan} == {
        "algo-recommendation-engine": 0,
        "rc-anti-money-laundering": 0,
        "rc-fraud-detection": 2,
    }
    execute_cleanup(plan, sagemaker)

    remaining = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in remaining] == ["rc-not-ours"]
    assert sagemaker.list_model_packages(ModelPackageType="Both")["ModelPackageSummaryList"] == []


def test_disabled_registry_provisions_nothing(sagemaker: Any) -> None:
    report = reconcile(parse_config("ENABLE_MODEL_REGISTRY=false\n"), sagemaker)

    assert report.results == []
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


# --- the Lambda handler --------------------------------------------------------------------------


def test_handler_invoked_by_hand(sagemaker: Any, config_dir: Any, lambda_context: Any) -> None:
    app = handler_module("provisioner")

    result = app.lambda_handler(load_event("provision"), lambda_context)

    assert result["summary"] == {"enabled": True, "created": 3}
    again = app.lambda_handler(load_event("provision"), lambda_context)
    assert again["summary"] == {"enabled": True, "present": 3}


def test_bad_config_fails_before_any_aws_call(
    config_dir: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config_dir / ".env.shared").write_text("TEAMS=rc\nRC_PROJECTS=fraud_detection\n")

    def no_aws(service: str) -> Any:
        raise AssertionError(f"an AWS client for {service} was requested")

    monkeypatch.setattr("registry_workflow.aws.client", no_aws)
    app = handler_module("provisioner")

    with pytest.raises(ConfigError, match='RC_PROJECTS: project "fraud_detection"'):
        app.lambda_handler({}, lambda_context)
