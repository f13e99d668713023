"""The gate against moto, through the deployer handler: validated before live, four eyes, approvers, audit.

Identities are what AWS would report: the data scientist registers with an IAM user's own keys
(`deploy_support.registrant_client`), the plain test credentials are the account's root.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCOUNT
from deploy_support import (
    ENDPOINT,
    GROUP,
    METRICS_BUCKET,
    POLICY,
    DeployWorld,
    approval_event,
    register_version,
    registrant_client,
    role_client,
    set_approval,
)
from registry_workflow import aws
from registry_workflow.audit import AuditTrail
from registry_workflow.gate import GateRecords

pytest_plugins = ["deploy_support"]

ROOT = f"arn:aws:iam::{ACCOUNT}:root"
REGISTRANT_ARN = f"arn:aws:iam::{ACCOUNT}:user/data-scientist"


def trail(world: DeployWorld) -> AuditTrail:
    return AuditTrail(world.ledger.table_name)


def kinds(world: DeployWorld, group: str = GROUP) -> list[str]:
    return [e.kind for e in trail(world).entries(group)]


def creation_event(world: DeployWorld, arn: str) -> dict[str, Any]:
    """A creation event (no UpdatedModelPackageFields), as EventBridge sends for a new version."""
    event = approval_event(world.sagemaker, arn)
    event["detail"].pop("UpdatedModelPackageFields")
    return event


def register_approved(world: DeployWorld, auc: float) -> str:
    """A version registered already Approved, with its metrics: no validator ever ran on it."""
    arn = register_version(world.sagemaker, status="Approved", validated=False)
    key = f"{GROUP}/v{arn.rsplit('/', 1)[1]}/statistics.json"
    aws.client("s3").put_object(Bucket=METRICS_BUCKET, Key=key, Body=json.dumps({"auc": auc}))
    return arn


def write_policy(world: DeployWorld, extra: str) -> None:
    """The deploy tests' policy plus `extra` (REGISTRY_CONFIG_DIR is the test's config directory)."""
    (Path(os.environ["REGISTRY_CONFIG_DIR"]) / "policy.toml").write_text(POLICY + extra)


def status_of(world: DeployWorld, arn: str) -> tuple[str, str]:
    package = world.sagemaker.describe_model_package(ModelPackageName=arn)
    return package["ModelApprovalStatus"], package.get("ApprovalDescription", "")


GATED = """
[defaults.validation]
min = { auc = 0.8 }
"""


def test_a_version_registered_approved_with_bad_metrics_is_rejected_and_never_served(
    world: DeployWorld, deployer: Any
) -> None:
    # GIVEN a policy (auc >= 0.8) and a version registered already Approved with auc 0.5
    write_policy(world, GATED)
    arn = register_approved(world, auc=0.5)

    # WHEN the deployer gets its creation event
    result = deployer(creation_event(world, arn))

    # THEN it is validated first, fails, is set Rejected with the failed rule, and nothing is deployed
    assert result["action"] == "refused"
    assert result["refusal"] == "failed_validation"
    status, description = status_of(world, arn)
    assert status == "Rejected"
    assert "auc 0.5 < min 0.8" in description
    assert world.ledger.for_endpoint(ENDPOINT) == []
    assert world.sagemaker.list_endpoints()["Endpoints"] == []
    # AND the audit trail says what happened, in order, with who registered it
    entries = trail(world).entries(GROUP)
    assert [e.kind for e in entries] == ["registered", "approved", "validated", "refused"]
    assert entries[0].actor == REGISTRANT_ARN
    assert entries[2].details["result"] == "failed"
    assert trail(world).verify(GROUP).ok


def test_a_good_version_registered_approved_is_validated_then_sent_back_as_a_self_approval(
    world: DeployWorld, deployer: Any
) -> None:
    # GIVEN a good version registered already Approved (distinct_approver is on by default)
    write_policy(world, GATED)
    arn = register_approved(world, auc=0.95)

    # WHEN the deployer gets its creation event
    result = deployer(creation_event(world, arn))

    # THEN it is validated (passed, recorded for the gate), then goes back to pending review
    assert (result["action"], result["refusal"]) == ("refused", "self_approval")
    status, description = status_of(world, arn)
    assert status == "PendingManualApproval"
    assert "approved by its own registrant" in description
    created = world.sagemaker.describe_model_package(ModelPackageName=arn)["CreationTime"]
    record = GateRecords(world.ledger.table_name).validation(arn, _digest(), created=created)
    assert record is not None
    assert record.passed
    assert GateRecords(world.ledger.table_name).validation(arn, _digest(), created=None) is None  # unknown: none
    assert world.sagemaker.list_endpoints()["Endpoints"] == []
    assert "approval refused" in " ".join(world.titles())
    assert kinds(world) == ["registered", "approved", "validated", "refused"]


def test_with_distinct_approver_off_a_good_pre_approved_version_deploys_once_validated(
    world: DeployWorld, deployer: Any
) -> None:
    # GIVEN a project that does not require a second person
    write_policy(world, GATED + "\n[defaults.approval]\ndistinct_approver = false\n")
    arn = register_approved(world, auc=0.95)

    # WHEN the deployer gets its creation event
    result = deployer(creation_event(world, arn))

    # THEN it is validated, then deployed
    assert result["action"] == "started"
    assert world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] in {"Creating", "InService"}
    assert kinds(world) == ["registered", "approved", "validated", "deploying"]


def test_the_registrant_approving_their_own_version_is_sent_back_to_pending(world: DeployWorld, deployer: Any) -> None:
    # GIVEN a validated version, approved by the data scientist who registered it
    arn = register_version(world.sagemaker)
    registrant_client().update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    # WHEN the deployer gets the approval
    result = deployer(approval_event(world.sagemaker, arn))

    # THEN it is not deployed: back to PendingManualApproval with the reason, announced, audited
    assert (result["action"], result["refusal"]) == ("refused", "self_approval")
    status, description = status_of(world, arn)
    assert status == "PendingManualApproval"
    assert description == f"approval refused: approved by its own registrant ({REGISTRANT_ARN})"
    assert world.ledger.for_endpoint(ENDPOINT) == []
    refused = trail(world).entries(GROUP)[-1]
    assert (refused.kind, refused.details["refusal"]) == ("refused", "self_approval")

    # AND a second person's approval then deploys it
    assert deployer(set_approval(world.sagemaker, arn, "Approved"))["action"] == "started"


def test_an_approver_outside_the_projects_approvers_is_refused(world: DeployWorld, deployer: Any) -> None:
    # GIVEN approvals restricted to the ml-approvers role
    write_policy(world, f'\n[defaults.approval]\napprovers = ["arn:aws:iam::{ACCOUNT}:role/ml-approvers"]\n')
    arn = register_version(world.sagemaker)

    # WHEN the account's root approves (distinct from the registrant, but not an allowed approver)
    result = deployer(set_approval(world.sagemaker, arn, "Approved"))

    # THEN the approval is reverted with the reason
    assert (result["action"], result["refusal"]) == ("refused", "not_an_approver")
    assert status_of(world, arn)[0] == "PendingManualApproval"

    # WHEN someone in the ml-approvers role approves it
    approver = role_client("ml-approvers", "alice@example.com")
    approver.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    # THEN it deploys (the session ARN matches by its role)
    assert deployer(approval_event(world.sagemaker, arn))["action"] == "started"


def test_an_unknown_registrant_is_never_distinct(world: DeployWorld, deployer: Any) -> None:
    # GIVEN a version whose CreatedBy SageMaker does not report (moto's backend is a plain object)
    from moto.sagemaker.models import sagemaker_backends

    arn = register_version(world.sagemaker)
    sagemaker_backends[ACCOUNT][world.sagemaker.meta.region_name].model_packages[arn].created_by = {}

    # WHEN it is approved
    result = deployer(set_approval(world.sagemaker, arn, "Approved"))

    # THEN it is refused: four eyes cannot be shown
    assert (result["action"], result["refusal"]) == ("refused", "unknown_registrant")
    assert status_of(world, arn)[0] == "PendingManualApproval"


def test_a_verdict_under_an_older_policy_is_validated_again(world: DeployWorld, deployer: Any) -> None:
    # GIVEN a version validated (and passed) under a lenient policy
    arn = register_version(world.sagemaker)
    # WHEN the policy tightens (auc >= 0.95) before the approval
    write_policy(world, "\n[defaults.validation]\nmin = { auc = 0.95 }\n")
    result = deployer(set_approval(world.sagemaker, arn, "Approved"))

    # THEN the approval is judged under the policy in force: auc 0.9 fails, the version is rejected
    assert (result["action"], result["refusal"]) == ("refused", "failed_validation")
    assert status_of(world, arn)[0] == "Rejected"
    assert world.ledger.for_endpoint(ENDPOINT) == []


def test_the_workflows_own_auto_approval_counts_as_a_second_person(
    world: DeployWorld, deployer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN auto_approve, and the validator running as its own role (as in AWS)
    write_policy(world, GATED + "auto_approve = true\n")
    monkeypatch.setenv("WORKFLOW_ROLES", "ValidatorFunctionRole,DeployerFunctionRole")
    validator = role_client("ValidatorFunctionRole", "registry-workflow-validator")
    arn = register_version(world.sagemaker, validated=False)
    _validate_with(validator, world, arn)
    assert status_of(world, arn)[0] == "Approved"

    # WHEN the deployer gets the validator's approval
    result = deployer(approval_event(world.sagemaker, arn))

    # THEN it deploys
    assert result["action"] == "started"


def test_a_stamp_by_the_workflow_after_a_self_approval_is_not_an_approval(
    world: DeployWorld, deployer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the registrant approves, then (a race) a workflow role changes the version's metadata
    monkeypatch.setenv("WORKFLOW_ROLES", "ValidatorFunctionRole")
    arn = register_version(world.sagemaker)
    registrant_client().update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    event = approval_event(world.sagemaker, arn)
    role_client("ValidatorFunctionRole", "registry-workflow-validator").update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"note": "x"}
    )

    # WHEN the deployer gets the (self-)approval's event
    result = deployer(event)

    # THEN who approved cannot be told: refused, never taken for the workflow's approval
    assert (result["action"], result["refusal"]) == ("refused", "unknown_approver")


def test_duplicated_events_add_no_audit_entries_and_the_chain_verifies(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN a version approved by a second person and deployed
    arn = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, arn, "Approved")
    deployer(event)
    before = kinds(world)

    # WHEN the approval is delivered again
    deployer(event)

    # THEN the trail is unchanged, and verifies
    assert kinds(world) == before == ["validated", "approved", "deploying"]
    report = trail(world).verify(GROUP)
    assert report.ok
    assert report.entries == 3


@pytest.mark.parametrize("tamper", ["edit", "remove", "reorder", "drop-last"])
def test_audit_verify_names_the_first_entry_that_was_tampered_with(
    world: DeployWorld, deployer: Any, tamper: str
) -> None:
    # GIVEN a real history: two versions, one approved and deployed
    arn = register_version(world.sagemaker)
    deployer(set_approval(world.sagemaker, arn, "Approved"))
    register_version(world.sagemaker)
    assert trail(world).verify(GROUP).ok
    table, dynamodb = world.ledger.table_name, aws.client("dynamodb")

    def key(seq: int) -> dict[str, Any]:
        return {"pk": {"S": f"AUDIT#{GROUP}"}, "sk": {"S": f"ENTRY#{seq:012d}"}}

    # WHEN someone with write access to the table changes it
    if tamper == "edit":
        item = dynamodb.get_item(TableName=table, Key=key(2))["Item"]
        item["entry"]["S"] = item["entry"]["S"].replace(ROOT, "arn:aws:iam::123456789012:user/mallory")
        dynamodb.put_item(TableName=table, Item=item)
        expected = 2
    elif tamper == "remove":
        dynamodb.delete_item(TableName=table, Key=key(2))
        expected = 2
    elif tamper == "reorder":
        second = dynamodb.get_item(TableName=table, Key=key(2))["Item"]
        third = dynamodb.get_item(TableName=table, Key=key(3))["Item"]
        dynamodb.put_item(TableName=table, Item={**third, "sk": {"S": f"ENTRY#{2:012d}"}})
        dynamodb.put_item(TableName=table, Item={**second, "sk": {"S": f"ENTRY#{3:012d}"}})
        expected = 2
    else:
        last = len(trail(world).entries(GROUP))
        dynamodb.delete_item(TableName=table, Key=key(last))
        expected = last

    # THEN verify fails, naming the first entry that does not hold
    report = trail(world).verify(GROUP)
    assert not report.ok
    assert report.first_bad_seq == expected, report


def _digest() -> str:
    from registry_workflow.config import load_config

    project = load_config().project_for_group(GROUP)
    assert project is not None
    return project.policy.digest()


def _validate_with(sagemaker: Any, world: DeployWorld, arn: str) -> None:
    from registry_workflow.config import load_config
    from registry_workflow.events import parse_model_package_event
    from registry_workflow.validation import validate_version

    registered = approval_event(world.sagemaker, arn)
    registered["detail"].pop("UpdatedModelPackageFields")  # the registration's event: the validator's trigger
    detail = parse_model_package_event(registered).detail
    project = load_config().project_for_group(GROUP)
    assert project is not None
    table = world.ledger.table_name
    validate_version(detail, project, sagemaker=sagemaker, records=GateRecords(table), trail=AuditTrail(table))


def test_a_recreated_groups_version_is_never_passed_by_the_old_versions_verdict(
    world: DeployWorld, deployer: Any
) -> None:
    # GIVEN v1 validated and passed (its verdict kept), then the group deleted and created again
    write_policy(world, GATED)
    old = register_version(world.sagemaker)  # auc 0.9: passes
    world.sagemaker.delete_model_package(ModelPackageName=old)
    world.sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    # AND a new v1 under the same ARN, registered Approved with failing metrics, never validated
    new = register_approved(world, auc=0.5)
    assert new == old

    # WHEN the deployer gets its creation event
    result = deployer(creation_event(world, new))

    # THEN the old verdict does not pass it: it is validated now, fails, and nothing is deployed
    assert result["action"] == "refused"
    assert result["refusal"] == "failed_validation"
    assert status_of(world, new)[0] == "Rejected"
    assert world.ledger.for_endpoint(ENDPOINT) == []
    # AND the history tells both versions apart: the new v1's registration and validation are entries
    assert kinds(world) == ["validated", "registered", "approved", "validated", "refused"]
    assert trail(world).verify(GROUP).ok


def test_a_verdict_written_behind_the_versions_creation_time_still_counts(world: DeployWorld) -> None:
    # GIVEN a version validated by a validator whose clock runs 5 s behind SageMaker's
    write_policy(world, GATED)
    arn = register_version(world.sagemaker)
    created = world.sagemaker.describe_model_package(ModelPackageName=arn)["CreationTime"]
    aws.client("dynamodb").update_item(
        TableName=world.ledger.table_name,
        Key={"pk": {"S": f"PACKAGE#{arn}"}, "sk": {"S": f"VALIDATION#{_digest()}"}},
        UpdateExpression="SET #at = :at",
        ExpressionAttributeNames={"#at": "at"},
        ExpressionAttributeValues={":at": {"S": (created - timedelta(seconds=5)).isoformat()}},
    )

    # THEN its verdict is still its own: it records the version's CreationTime, not only a write time
    record = GateRecords(world.ledger.table_name).validation(arn, _digest(), created=created)
    assert record is not None
    assert record.passed
