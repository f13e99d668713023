"""The whole workflow on the twin, driven only through its public surface: boto3, the aws CLI,
`registry-workflow` commands and the twin's control switches."""

from __future__ import annotations

import pytest
from twin_process import RunningTwin
from workflow_steps import (
    ENDPOINT,
    approve,
    create_bucket,
    history,
    live,
    register,
    reject,
    serving,
    stamped,
    wait_for,
)

pytestmark = pytest.mark.e2e

#: the whole story in us-east-1 with epoch-millisecond times (as real accounts send them), and in
#: the seed's region with ISO times (as AWS's docs show them)
REGIONS = [
    pytest.param({"region": "us-east-1", "args": ["--timestamps", "epoch-ms"]}, id="us-east-1-epoch-ms"),
    pytest.param({"region": "ap-northeast-1", "args": ["--timestamps", "iso"]}, id="ap-northeast-1-iso"),
]


@pytest.fixture
def provisioned(running_twin: RunningTwin) -> RunningTwin:
    assert running_twin.cli("provision").returncode == 0
    create_bucket(running_twin)
    return running_twin


@pytest.mark.parametrize("running_twin", REGIONS, indirect=True)
def test_register_validate_approve_deploy_reject_rollback(provisioned: RunningTwin) -> None:
    twin = provisioned
    v1 = register(twin, 1, auc=0.91)
    assert wait_for(lambda: stamped(twin, v1) == "passed")
    approve(twin, v1)
    assert wait_for(lambda: live(twin) == 1)

    v2 = register(twin, 2, auc=0.70)
    described = wait_for(
        lambda: (
            (d := twin.client("sagemaker").describe_model_package(ModelPackageName=v2))["ModelApprovalStatus"]
            == "Rejected"
            and d
        )
    )
    assert "auc 0.7 < min 0.8" in described["ApprovalDescription"]

    v3 = register(twin, 3, auc=0.93)
    assert wait_for(lambda: stamped(twin, v3) == "passed")
    approve(twin, v3)
    assert wait_for(lambda: live(twin) == 3)

    reject(twin, v3)
    assert wait_for(lambda: live(twin) == 1)
    assert serving(twin) == 1
    statuses = {(r["version"], r["kind"]): r["status"] for r in history(twin)}
    assert statuses[(3, "deploy")] == "rolled_back"
    assert statuses[(1, "rollback")] == "succeeded"
    log = twin.log()
    assert any("rolling back" in m.get("text", "") for m in log["slack"])
    assert all(o["ok"] for o in log["outcomes"]), [o for o in log["outcomes"] if not o["ok"]]
    assert {e["region"] for e in log["events"]} == {twin.region}
    assert all(f":{twin.region}:" in e["resources"][0] for e in log["events"])


def test_every_event_twice_changes_nothing_twice(provisioned: RunningTwin) -> None:
    twin = provisioned
    twin.control("/twin/duplicate-events", "true")
    v1 = register(twin, 1, auc=0.91)
    assert wait_for(lambda: stamped(twin, v1) == "passed")
    approve(twin, v1)
    assert wait_for(lambda: live(twin) == 1)
    twin.idle()

    log = twin.log()
    assert len(log["deliveries"]) == 2 * len(log["events"])  # each event really arrived twice
    assert len(history(twin)) == 1  # one deployment
    texts = [m.get("text", "") for m in log["slack"]]
    for word in ("Registered", "Validation passed", "Approved", "deploying", "live"):
        assert sum(word in t for t in texts) == 1, (word, texts)


def test_failed_update_is_reported_and_the_old_version_stays_live(provisioned: RunningTwin) -> None:
    twin = provisioned
    v1 = register(twin, 1, auc=0.91)
    assert wait_for(lambda: stamped(twin, v1) == "passed")
    approve(twin, v1)
    assert wait_for(lambda: live(twin) == 1)

    twin.control("/twin/fail-next-update", "CloudWatch alarm rc-fraud-detection-endpoint-5xx fired")
    v2 = register(twin, 2, auc=0.92)
    assert wait_for(lambda: stamped(twin, v2) == "passed")
    approve(twin, v2)

    failed = wait_for(lambda: next((r for r in history(twin) if r["version"] == 2 and r["status"] == "failed"), None))
    assert "5xx fired" in failed["failure_reason"]
    assert live(twin) == 1
    endpoint = twin.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService"
    assert serving(twin) == 1
    assert wait_for(lambda: any("failed" in m.get("text", "").lower() for m in twin.log()["slack"]))
