"""The deployment ledger on moto's DynamoDB: conditional writes, one deployment per endpoint, queries."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import REPO
from registry_workflow.errors import DeploymentConflictError
from registry_workflow.ledger import (
    Deployment,
    DeploymentLedger,
    DeploymentStatus,
    deployment_id_for,
    table_definition,
)


@pytest.fixture
def ledger(mocked_aws: None) -> DeploymentLedger:
    ledger = DeploymentLedger("ledger-test")
    ledger.create_table()
    return ledger


def record(
    version: int, endpoint: str = "rc-fraud-detection-endpoint", group: str = "rc-fraud-detection"
) -> Deployment:
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/{version}"
    return Deployment(
        deployment_id=deployment_id_for(endpoint, arn, "Approved:t"),
        endpoint=endpoint,
        group=group,
        version=version,
        package_arn=arn,
        model_name=f"{group}-v{version}",
        endpoint_config_name=f"{endpoint}-v{version}",
        strategy="canary",
        approver="alice",
    )


def test_template_table_matches_the_code() -> None:
    from registry_workflow.local.template import read_template

    resources = read_template(REPO / "template.yaml")["Resources"]
    props = resources["LedgerTable"]["Properties"]
    expected = table_definition()
    assert props["KeySchema"] == expected["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert props["GlobalSecondaryIndexes"] == expected["GlobalSecondaryIndexes"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_one_deployment_in_progress_per_endpoint(ledger: DeploymentLedger) -> None:
    first = ledger.begin(record(1))

    with pytest.raises(DeploymentConflictError):
        ledger.begin(record(2))
    # a duplicate start of the same deployment is refused too: only one invocation drives it
    with pytest.raises(DeploymentConflictError):
        ledger.begin(record(1))

    # another endpoint is independent
    ledger.begin(record(1, endpoint="rc-anti-money-laundering-endpoint", group="rc-anti-money-laundering"))
    in_progress = ledger.in_progress(first.endpoint)
    assert in_progress is not None
    assert in_progress.deployment_id == first.deployment_id
    assert in_progress.status == DeploymentStatus.IN_PROGRESS
    assert in_progress.started_at


def test_finish_is_conditional_and_releases_the_lock(ledger: DeploymentLedger) -> None:
    started = ledger.begin(record(1))

    assert ledger.finish(started, DeploymentStatus.SUCCEEDED) is True
    assert ledger.finish(started, DeploymentStatus.FAILED, "late duplicate") is False

    stored = ledger.get(started.endpoint, started.deployment_id)
    assert stored is not None
    assert (stored.status, stored.failure_reason) == (DeploymentStatus.SUCCEEDED, None)
    assert stored.finished_at
    assert ledger.in_progress(started.endpoint) is None
    ledger.begin(record(2))  # the endpoint is free again


def test_live_is_the_last_succeeded_and_previous_follows(ledger: DeploymentLedger) -> None:
    for version in (1, 2, 3):
        ledger.finish(ledger.begin(record(version)), DeploymentStatus.SUCCEEDED)
    failed = ledger.begin(record(4))
    ledger.finish(failed, DeploymentStatus.FAILED, "health checks")

    assert [d.version for d in ledger.succeeded("rc-fraud-detection-endpoint")] == [3, 2, 1]
    live = ledger.live("rc-fraud-detection-endpoint")
    assert live is not None
    assert live.version == 3


def test_queued_records_keep_their_order_and_add_is_idempotent(ledger: DeploymentLedger) -> None:
    three, created = ledger.add(record(3))
    again, created_again = ledger.add(replace(record(3), approver="someone else"))
    ledger.add(record(2))

    assert (created, created_again) == (True, False)
    assert again.approver == "alice"
    assert [d.version for d in ledger.queued("rc-fraud-detection-endpoint")] == [3, 2]
    assert three.status == DeploymentStatus.QUEUED


def test_transition_only_from_the_expected_status(ledger: DeploymentLedger) -> None:
    queued, _ = ledger.add(record(2))

    assert ledger.transition(queued, DeploymentStatus.SUPERSEDED, expected=DeploymentStatus.QUEUED, failure_reason="v3")
    assert not ledger.transition(queued, DeploymentStatus.SUPERSEDED, expected=DeploymentStatus.QUEUED)
    with pytest.raises(DeploymentConflictError):
        ledger.begin(queued)  # a superseded approval never starts


def test_history_by_group_spans_its_records(ledger: DeploymentLedger) -> None:
    ledger.add(record(1))
    ledger.add(record(2))
    ledger.add(record(1, endpoint="rc-anti-money-laundering-endpoint", group="rc-anti-money-laundering"))

    assert [d.version for d in ledger.history("rc-fraud-detection")] == [1, 2]
    assert ledger.endpoints() == ["rc-anti-money-laundering-endpoint", "rc-fraud-detection-endpoint"]


def test_lock_holder_names_the_deployment_and_a_restart_gets_a_new_start_time(ledger: DeploymentLedger) -> None:
    # GIVEN v1 started, then put back in the queue (the endpoint turned out busy)
    first = ledger.begin(record(1))
    assert ledger.lock_holder(first.endpoint) == first.deployment_id
    assert ledger.requeue(first, "busy")
    assert ledger.lock_holder(first.endpoint) is None
    requeued = ledger.get(first.endpoint, first.deployment_id)
    assert requeued is not None
    assert requeued.started_at == first.started_at  # the requeue keeps the old attempt's time

    # WHEN it is started again
    again = ledger.begin(requeued)

    # THEN it holds the lock, and started_at is this attempt's (the tracker compares endpoint times with it)
    assert ledger.lock_holder(first.endpoint) == first.deployment_id
    assert again.started_at is not None
    assert first.started_at is not None
    assert again.started_at > first.started_at
    stored = ledger.get(first.endpoint, first.deployment_id)
    assert stored is not None
    assert stored.started_at == again.started_at


def test_a_retry_after_a_crash_between_the_write_and_its_audit_entry_records_it_once(
    ledger: DeploymentLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_workflow.audit import AuditTrail
    from registry_workflow.errors import AwsOperationError

    # GIVEN a deployment in progress
    started = ledger.begin(record(1))
    trail = AuditTrail(ledger.table_name)
    before = [e.kind for e in trail.entries("rc-fraud-detection")]

    # WHEN its close is written but the run dies before the audit entry (an AWS fault on the append)
    original = AuditTrail.record

    def crash(self: AuditTrail, *args: object, **kwargs: object) -> None:
        raise AwsOperationError("dynamodb:TransactWriteItems", "InternalServerError", "injected")

    monkeypatch.setattr(AuditTrail, "record", crash)
    with pytest.raises(AwsOperationError):
        ledger.finish(started, DeploymentStatus.SUCCEEDED)
    monkeypatch.setattr(AuditTrail, "record", original)

    # THEN the retry finds the deployment closed already, and records the missing entry, once
    assert ledger.finish(started, DeploymentStatus.SUCCEEDED) is False
    assert ledger.finish(started, DeploymentStatus.SUCCEEDED) is False
    after = [e.kind for e in trail.entries("rc-fraud-detection")]
    assert after == [*before, "deployed"]
    assert trail.verify("rc-fraud-detection").ok
