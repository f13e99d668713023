"""Staged promotion on the twin, end to end (issue 12): staging, then production by promotion.

The project `rc-fraud-detection` gets two stages here (the repository's config keeps one stage
for every seed project): staging (soak 30 min) and production (canary). Promotion is asked the way
people ask it — `registry-workflow promote`, which sets ModelLifeCycle — and the twin emits the
"SageMaker Model Package State Change" event AWS would (UpdatedModelPackageFields: ModelLifeCycle).
Runs in ap-northeast-1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from twin_process import RunningTwin, start_twin_with_policy
from workflow_steps import approve, register, reject, wait_for

pytestmark = pytest.mark.e2e

GROUP = "rc-fraud-detection"
STAGING, PRODUCTION = f"{GROUP}-staging", f"{GROUP}-production"
STAGES = f"""
[[projects."{GROUP}".stages]]
name = "staging"
soak_minutes = 30

[[projects."{GROUP}".stages]]
name = "production"
strategy = "canary"
traffic_percent = 10
instance_count = 2
"""
LEDGER = "LedgerTable"


@pytest.fixture
def twin(tmp_path: Path) -> Any:
    running = start_twin_with_policy(tmp_path, STAGES, region="ap-northeast-1")
    yield running
    assert "stopped" in running.stop()


def status(twin: RunningTwin) -> dict[str, dict[str, Any]]:
    result = twin.read("status", "--json")
    assert result.returncode == 0, result.stderr
    return {row["stage"]: row for row in json.loads(result.stdout) if row["group"] == GROUP}


def live_in(twin: RunningTwin, stage: str) -> int | None:
    row = status(twin)[stage]
    return row["live"]["version"] if row["live"] and not row["in_flight"] else None


def lifecycle(twin: RunningTwin, arn: str) -> dict[str, Any]:
    described = twin.client("sagemaker").describe_model_package(ModelPackageName=arn)
    return dict(described.get("ModelLifeCycle") or {})


def promote(twin: RunningTwin, version: int, stage: str = "production") -> str:
    result = twin.cli("promote", GROUP, str(version), "--to", stage, "--reason", "staging looks good")
    assert result.returncode == 0, result.stderr
    return result.stdout


def soaked(twin: RunningTwin, minutes: int) -> None:
    """Let time pass for staging's live deployment (its finish time moved back in the ledger)."""
    rows = twin.client("dynamodb").query(
        TableName=LEDGER,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"ENDPOINT#{STAGING}"}},
    )["Items"]
    then = (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for row in rows:
        if row.get("status", {}).get("S") == "succeeded":
            twin.client("dynamodb").update_item(
                TableName=LEDGER,
                Key={"pk": row["pk"], "sk": row["sk"]},
                UpdateExpression="SET finished_at = :t",
                ExpressionAttributeValues={":t": {"S": then}},
            )


def audit_kinds(twin: RunningTwin) -> list[str]:
    result = twin.cli("audit", GROUP, "--verify", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    entries = document["entries"] if isinstance(document, dict) else document
    return [e["kind"] for e in entries]


def test_staging_then_production_with_refusals_a_failed_rollout_and_a_rollback(twin: RunningTwin) -> None:
    # v1: approved → staging only; its lifecycle says staging/Deployed
    v1 = register(twin, 1, auc=0.9)
    approve(twin, v1)
    wait_for(lambda: live_in(twin, "staging") == 1)
    assert status(twin)["production"]["live"] is None
    wait_for(lambda: lifecycle(twin, v1).get("StageStatus") == "Deployed")
    assert lifecycle(twin, v1)["Stage"] == "staging"

    # promoted before the soak: refused with the time left, lifecycle set back, nothing in production
    promote(twin, 1)
    refused = wait_for(lambda: "refused" in lifecycle(twin, v1).get("StageDescription", "") and lifecycle(twin, v1))
    assert (refused["Stage"], refused["StageStatus"]) == ("staging", "Deployed")
    assert "soaking: staging needs 30 min of service before production" in refused["StageDescription"]
    assert status(twin)["production"]["live"] is None

    # after the soak: production (created: a new endpoint takes no canary), lifecycle production/Deployed
    soaked(twin, 31)
    promote(twin, 1)
    wait_for(lambda: live_in(twin, "production") == 1)
    wait_for(lambda: lifecycle(twin, v1).get("Stage") == "production" and lifecycle(twin, v1))

    # v2 approved → staging
    v2 = register(twin, 2, auc=0.92)
    approve(twin, v2)
    wait_for(lambda: live_in(twin, "staging") == 2)

    # v2's production canary fails: staging keeps v2, production keeps v1, lifecycle back to staging
    soaked(twin, 31)
    twin.control("/twin/fail-next-update", "canary alarm: 5XX errors")
    promote(twin, 2)
    failed = wait_for(lambda: "failed" in lifecycle(twin, v2).get("StageDescription", "") and lifecycle(twin, v2))
    assert (failed["Stage"], failed["StageStatus"]) == ("staging", "Deployed")
    assert live_in(twin, "production") == 1
    assert live_in(twin, "staging") == 2

    # v2 promoted again: it goes live in production
    promote(twin, 2)
    wait_for(lambda: live_in(twin, "production") == 2)

    # v2 rejected: both stages roll back to v1
    reject(twin, v2, "bias found in production traffic")
    wait_for(lambda: live_in(twin, "production") == 1 and live_in(twin, "staging") == 1, timeout=60)

    # v3 approved → staging; v1 (live in production, not in staging) promoted: out of order, refused
    v3 = register(twin, 3, auc=0.93)
    approve(twin, v3)
    wait_for(lambda: live_in(twin, "staging") == 3)
    promote(twin, 1)
    out_of_order = wait_for(
        lambda: "out of order" in lifecycle(twin, v1).get("StageDescription", "") and lifecycle(twin, v1)
    )
    assert out_of_order["StageDescription"] == (
        "promotion to production refused: out of order: production takes a version live in staging; "
        "it is live in production"
    )
    assert (out_of_order["Stage"], out_of_order["StageStatus"]) == ("production", "Deployed")
    twin.idle()
    assert (live_in(twin, "staging"), live_in(twin, "production")) == (3, 1)

    kinds = audit_kinds(twin)
    assert kinds.count("promotion_asked") == 5
    assert kinds.count("promotion_refused") == 2
    assert kinds.count("rolled_back") == 2  # one per stage
