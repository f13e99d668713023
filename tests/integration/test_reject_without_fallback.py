"""`deploy.on_reject_without_fallback = "delete"` (issue 16, part 5): a rejected live version with no
earlier approved version to roll back to is taken down with its endpoint, not left serving.

The default ("keep") is tested in test_reject_during_creation.py and test_deployer.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deploy_support import (
    ENDPOINT,
    GROUP,
    POLICY,
    DeployWorld,
    endpoint_event,
    register_version,
    set_approval,
    set_endpoint_status,
)
from registry_workflow.ledger import DeploymentStatus

pytest_plugins = ["deploy_support"]


@pytest.fixture
def deleting(world: DeployWorld, config_dir: Path) -> DeployWorld:
    policy = POLICY.replace(
        '[projects."rc-fraud-detection".deploy]\n',
        '[projects."rc-fraud-detection".deploy]\non_reject_without_fallback = "delete"\n',
    )
    assert "on_reject_without_fallback" in policy
    (config_dir / "policy.toml").write_text(policy)
    return world


def endpoint_exists(world: DeployWorld) -> bool:
    return any(e["EndpointName"] == ENDPOINT for e in world.sagemaker.list_endpoints()["Endpoints"])


def test_the_only_live_version_rejected_takes_the_endpoint_down(
    deleting: DeployWorld, deployer: Any, tracker: Any
) -> None:
    v1 = register_version(deleting.sagemaker)
    assert deployer(set_approval(deleting.sagemaker, v1, "Approved"))["action"] == "started"
    assert tracker(endpoint_event(deleting.sagemaker))["action"] == "succeeded"

    retired = deployer(set_approval(deleting.sagemaker, v1, "Rejected", "leaks PII"))

    assert retired["action"] == "retired"
    assert not endpoint_exists(deleting)
    assert deleting.ledger.live(ENDPOINT) is None
    statuses = {(d.kind, d.status) for d in deleting.ledger.for_endpoint(ENDPOINT)}
    assert statuses == {("deploy", DeploymentStatus.ROLLED_BACK), ("retire", DeploymentStatus.SUCCEEDED)}
    assert f"{GROUP} v1: rejected and taken down: endpoint deleted" in deleting.titles()
    # a duplicate of the rejection changes nothing
    assert deployer(set_approval(deleting.sagemaker, v1, "Rejected", "leaks PII"))["action"] in {"not_live", "stale"}

    # the next approved version creates the endpoint again
    v2 = register_version(deleting.sagemaker)
    assert deployer(set_approval(deleting.sagemaker, v2, "Approved"))["action"] == "started"
    assert tracker(endpoint_event(deleting.sagemaker))["action"] == "succeeded"
    assert deleting.ledger.live(ENDPOINT).package_arn == v2


def test_rejected_while_created_it_is_taken_down_once_live(deleting: DeployWorld, deployer: Any, tracker: Any) -> None:
    v1 = register_version(deleting.sagemaker)
    assert deployer(set_approval(deleting.sagemaker, v1, "Approved"))["action"] == "started"
    set_endpoint_status(ENDPOINT, "Creating")
    assert (
        deployer(set_approval(deleting.sagemaker, v1, "Rejected", "wrong features"))["action"] == "no_rollback_target"
    )
    assert endpoint_exists(deleting)

    set_endpoint_status(ENDPOINT, "InService")
    closed = tracker(endpoint_event(deleting.sagemaker))

    assert closed["action"] == "succeeded"
    assert closed["next"]["action"] == "retired"
    assert not endpoint_exists(deleting)
    assert deleting.ledger.live(ENDPOINT) is None


def test_an_older_approved_version_is_still_rolled_back_to(deleting: DeployWorld, deployer: Any, tracker: Any) -> None:
    v1 = register_version(deleting.sagemaker)
    deployer(set_approval(deleting.sagemaker, v1, "Approved"))
    tracker(endpoint_event(deleting.sagemaker))
    v2 = register_version(deleting.sagemaker)
    deployer(set_approval(deleting.sagemaker, v2, "Approved"))
    tracker(endpoint_event(deleting.sagemaker))

    assert deployer(set_approval(deleting.sagemaker, v2, "Rejected"))["action"] == "started"  # a rollback to v1
    assert endpoint_exists(deleting)
