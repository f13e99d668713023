"""No stale reuse: a deployment that differs in anything gets its own model and endpoint config.

Names carry a digest of what the resource is (package ARN + CreationTime + role for the model,
the variants for the config), so "already exists" only ever means "this very deployment, made by
an earlier attempt" (tests/integration/test_deployer.py covers that retry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy_support import (
    ENDPOINT,
    GROUP,
    POLICY,
    DeployWorld,
    config_of,
    endpoint_event,
    live_version,
    model_of,
    register_version,
    set_approval,
)
from registry_workflow.ledger import DeploymentStatus
from registry_workflow.local import moto_fixes

pytest_plugins = ["deploy_support"]


def test_fixing_the_instance_type_and_re_approving_creates_and_uses_a_new_config(
    world: DeployWorld, deployer: Any, tracker: Any, config_dir: Path, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1 live, and v2 deployed on an instance type that fails
    live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)
    (config_dir / "policy.toml").write_text(
        POLICY.replace("instance_count = 2", 'instance_count = 2\ninstance_type = "ml.p3.16xlarge"')
    )
    moto_fixes.behaviour.fail_next = "Insufficient capacity for ml.p3.16xlarge"
    assert deployer(set_approval(world.sagemaker, v2, "Approved"))["action"] == "started"
    assert tracker(endpoint_event(world.sagemaker))["action"] == "failed"
    failed_config = config_of(world, 2)

    # WHEN the instance type is fixed in policy.toml and v2 is approved again
    (config_dir / "policy.toml").write_text(
        POLICY.replace("instance_count = 2", 'instance_count = 2\ninstance_type = "ml.m5.xlarge"')
    )
    calls.clear()
    result = deployer(set_approval(world.sagemaker, v2, "Approved", "fixed the instance type"))

    # THEN a new config with the fixed type is created and the update uses it (the model is reused)
    assert result["action"] == "started"
    (created,) = calls["CreateEndpointConfig"]
    assert created["EndpointConfigName"] != failed_config
    assert created["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"
    (update,) = calls["UpdateEndpoint"]
    assert update["EndpointConfigName"] == created["EndpointConfigName"] == config_of(world, 2)
    assert (
        world.sagemaker.describe_endpoint_config(EndpointConfigName=failed_config)["ProductionVariants"][0][
            "InstanceType"
        ]
        == "ml.p3.16xlarge"
    )
    assert calls["CreateModel"][0]["ModelName"] == model_of(world, 2)  # "already exists": the same model
    # AND it goes live
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert (live.package_arn, live.endpoint_config_name) == (v2, created["EndpointConfigName"])


def test_a_recreated_groups_versions_get_new_models_not_the_old_groups(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1 then v2 of the group live on the endpoint
    old_v1 = live_version(world, deployer, tracker)
    live_version(world, deployer, tracker)
    old_models = {model_of(world, 1), model_of(world, 2)}

    # WHEN the group is cleaned up and provisioned again, and its new v1 (the same ARN) is approved
    for version in (1, 2):
        world.sagemaker.delete_model_package(ModelPackageName=f"{old_v1[:-1]}{version}")
    world.sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    new_v1 = register_version(world.sagemaker)
    assert new_v1 == old_v1
    calls.clear()
    result = deployer(set_approval(world.sagemaker, new_v1, "Approved"))

    # THEN it is deployed (not "already live", not superseded by the old group's v2) as a new model
    assert result["action"] == "started", result
    (created,) = calls["CreateModel"]
    assert created["ModelName"] not in old_models
    assert created["Containers"] == [{"ModelPackageName": new_v1}]
    assert world.sagemaker.describe_model(ModelName=created["ModelName"])["ExecutionRoleArn"]
    (update,) = calls["UpdateEndpoint"]
    assert update["EndpointConfigName"] == config_of(world, 1)
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert (live.version, live.model_name, live.status) == (1, created["ModelName"], DeploymentStatus.SUCCEEDED)


def test_re_approving_the_live_version_unchanged_deploys_nothing(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    v1 = live_version(world, deployer, tracker)
    calls.clear()

    result = deployer(set_approval(world.sagemaker, v1, "Approved", "approved again"))

    assert result["action"] == "already_live"
    assert not {"CreateModel", "CreateEndpointConfig", "UpdateEndpoint"} & set(calls)


def test_a_rollback_never_goes_back_to_an_old_groups_version_under_a_reused_arn(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN the old group's v1 was live once
    old_v1 = live_version(world, deployer, tracker)
    # AND the group was cleaned up and provisioned again: its new v1 (same ARN) is approved but was
    # never deployed, its new v2 is live
    world.sagemaker.delete_model_package(ModelPackageName=old_v1)
    world.sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    new_v1, new_v2 = register_version(world.sagemaker), register_version(world.sagemaker)
    assert new_v1 == old_v1
    set_approval(world.sagemaker, new_v1, "Approved")  # its event never reaches the deployer
    assert deployer(set_approval(world.sagemaker, new_v2, "Approved"))["action"] == "started"
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    calls.clear()

    # WHEN the live v2 is rejected
    result = deployer(set_approval(world.sagemaker, new_v2, "Rejected"))

    # THEN the old group's v1 record is no rollback target (its ARN names another version now):
    # nothing is redeployed from the old model
    assert result["action"] == "no_rollback_target"
    assert not {"CreateModel", "CreateEndpointConfig", "UpdateEndpoint"} & set(calls)
