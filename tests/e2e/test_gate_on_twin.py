"""The gate on the twin, end to end: nothing reaches an endpoint that did not pass the policy and a
second person, and the audit trail proves it (README, "The gate").

Identities are what AWS would report: the data scientist registers with the plain keys (the
account's root), the reviewer is an IAM user of the twin with its own keys, and each function runs
as its own role.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twin_process import RunningTwin, start_twin_with_policy
from workflow_steps import approve, register, wait_for

pytestmark = pytest.mark.e2e

GROUP = "rc-fraud-detection"
AML = "rc-anti-money-laundering"
ALGO = "algo-recommendation-engine"
#: the repository's policy, plus: AML needs no second person; algo's approvers are leads only
GATE_POLICY = f"""
[projects."{AML}".approval]
distinct_approver = false

[projects."{ALGO}".approval]
approvers = ["arn:aws:iam::123456789012:user/lead-*"]
"""


@pytest.fixture
def twin(tmp_path: Path) -> Any:
    running = start_twin_with_policy(tmp_path, GATE_POLICY, region="ap-northeast-1")
    yield running
    assert "stopped" in running.stop()


def described(twin: RunningTwin, arn: str) -> dict[str, Any]:
    return dict(twin.client("sagemaker").describe_model_package(ModelPackageName=arn))


def status_is(twin: RunningTwin, arn: str, status: str) -> dict[str, Any] | None:
    package = described(twin, arn)
    return package if package["ModelApprovalStatus"] == status else None


def endpoints(twin: RunningTwin) -> set[str]:
    return {e["EndpointName"] for e in twin.client("sagemaker").list_endpoints()["Endpoints"]}


def in_service(twin: RunningTwin, name: str) -> bool:
    return twin.client("sagemaker").describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


def audit(twin: RunningTwin, group: str, *args: str) -> Any:
    return twin.cli("audit", group, "--verify", *args)


def test_the_gate_cannot_be_walked_around(twin: RunningTwin) -> None:
    # 1. a version registered already Approved with failing metrics: validated, rejected, never served
    bad = register(twin, 1, auc=0.5, status="Approved")
    rejected = wait_for(lambda: status_is(twin, bad, "Rejected"))
    assert "auc 0.5 < min 0.8" in rejected["ApprovalDescription"]

    # 2. a good version registered already Approved: validated, then back to review (self-approval)
    good = register(twin, 2, auc=0.95, status="Approved")
    pending = wait_for(lambda: status_is(twin, good, "PendingManualApproval"))
    assert "approved by its own registrant" in pending["ApprovalDescription"]
    assert (pending.get("CustomerMetadataProperties") or {}).get("validation.status") == "passed"
    twin.idle()
    assert f"{GROUP}-endpoint" not in endpoints(twin)  # neither version was ever served

    # 3. the registrant approves their own (validated) version: reverted, announced
    twin.client("sagemaker").update_model_package(ModelPackageArn=good, ModelApprovalStatus="Approved")
    wait_for(lambda: "approval refused" in (status_is(twin, good, "PendingManualApproval") or {}).get(
        "ApprovalDescription", ""
    ))  # fmt: skip
    twin.idle()
    assert any("approval refused" in m.get("text", "") for m in twin.log()["slack"])
    assert f"{GROUP}-endpoint" not in endpoints(twin)

    # 4. a second person approves it: deployed
    approve(twin, good)
    assert wait_for(lambda: in_service(twin, f"{GROUP}-endpoint"), timeout=60)

    # 5. a project without four eyes: a good pre-approved version deploys once validated
    aml = register(twin, 1, group=AML, status="Approved", metrics={"recall": 0.95})
    assert wait_for(lambda: in_service(twin, f"{AML}-endpoint"), timeout=60)
    assert described(twin, aml)["ModelApprovalStatus"] == "Approved"

    # 6. a project whose approvers are leads: the reviewer (not a lead) is refused
    algo = register(twin, 1, group=ALGO, metrics={"rmse": 0.9})
    wait_for(lambda: (described(twin, algo).get("CustomerMetadataProperties") or {}).get("validation.status"))
    approve(twin, algo)
    reverted = wait_for(
        lambda: (p := status_is(twin, algo, "PendingManualApproval")) and "approval refused" in p.get(
            "ApprovalDescription", ""
        ) and p
    )  # fmt: skip
    assert "is not an allowed approver" in reverted["ApprovalDescription"]
    twin.idle()
    assert f"{ALGO}-endpoint" not in endpoints(twin)
    assert all(o["ok"] for o in twin.log()["outcomes"]), [o for o in twin.log()["outcomes"] if not o["ok"]]

    # 7. the audit trail tells the story, and verifies
    result = audit(twin, GROUP, "--json")
    assert result.returncode == 0, result.stderr
    trail = json.loads(result.stdout)
    kinds = [(e["version"], e["kind"]) for e in trail["entries"]]
    for step in [(1, "registered"), (1, "validated"), (1, "refused"), (2, "refused"), (2, "deployed")]:
        assert step in kinds, (step, kinds)
    assert trail["verify"]["ok"] is True
    actors = {e["actor"] for e in trail["entries"] if e["kind"] == "approved"}
    assert "arn:aws:iam::123456789012:user/reviewer" in actors
    assert any(a.startswith("arn:aws:iam::123456789012:root") for a in actors)

    # 8. someone edits an entry in the table: --verify fails, naming it
    dynamodb = twin.client("dynamodb")
    key = {"pk": {"S": f"AUDIT#{GROUP}"}, "sk": {"S": f"ENTRY#{2:012d}"}}
    item = dynamodb.get_item(TableName="LedgerTable", Key=key)["Item"]
    entry = json.loads(item["entry"]["S"])
    item["entry"]["S"] = json.dumps({**entry, "actor": "arn:aws:iam::123456789012:user/mallory"})
    dynamodb.put_item(TableName="LedgerTable", Item=item)
    tampered = audit(twin, GROUP)
    assert tampered.returncode == 1
    assert "entry 2: its content does not match its hash (changed)" in tampered.stderr
