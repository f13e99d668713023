"""Validator Lambda against moto: S3 metrics, SageMaker stamps and verdicts, DynamoDB idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FakeLambdaContext
from handler_loader import handler_module
from registry_workflow.config import load_config
from registry_workflow.errors import MalformedEventError
from registry_workflow.validation import FAILED_RULES_KEY, METRICS_KEY, POLICY_KEY, STATUS_KEY, forget_champions

pytest_plugins = ["registry_fixtures"]

GOOD = {"binary_classification_metrics": {"auc": {"value": 0.91, "standard_deviation": 0.01}}}
BAD = {"binary_classification_metrics": {"auc": {"value": 0.71, "standard_deviation": 0.02}}}
WRITES = {"sagemaker:UpdateModelPackage", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def validate(event: dict[str, Any], context: FakeLambdaContext) -> dict[str, Any]:
    return handler_module("validator").lambda_handler(event, context)


def policy_digest() -> str:
    project = load_config().project_for_group("rc-fraud-detection")
    assert project is not None
    return project.policy.digest()


def test_good_metrics_are_stamped_passed_and_left_for_review(registry: Any, lambda_context: Any) -> None:
    # GIVEN a new version whose AUC clears the policy's minimum
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    # WHEN the registration event reaches the validator
    result = validate(registry.event_for(arn), lambda_context)
    # THEN the version carries a "passed" stamp with the policy's digest and still awaits a person
    package = registry.describe(arn)
    assert result["action"] == "stamped"
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    stamp = package["CustomerMetadataProperties"]
    assert stamp[STATUS_KEY] == "passed"
    assert stamp[POLICY_KEY] == policy_digest()
    assert "auc=0.91" in stamp[METRICS_KEY]
    assert FAILED_RULES_KEY not in stamp


def test_bad_metrics_are_rejected_with_the_failed_rule(registry: Any, lambda_context: Any) -> None:
    arn = registry.register(metrics=BAD)["ModelPackageArn"]
    event = registry.event_for(arn)
    calls = registry.count_calls("sagemaker", "s3")

    validate(event, lambda_context)

    package = registry.describe(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "auc 0.71 < min 0.8" in package["ApprovalDescription"]
    assert package["CustomerMetadataProperties"][STATUS_KEY] == "failed"
    assert "auc 0.71 lt min 0.8" in package["CustomerMetadataProperties"][FAILED_RULES_KEY]
    # stamp and verdict in one UpdateModelPackage; Describe + GetObject + Update, no more
    assert calls["sagemaker:UpdateModelPackage"] == 1
    assert sum(n for op, n in calls.items() if op.startswith(("sagemaker:", "s3:"))) <= 4


def test_missing_metrics_fail_closed(registry: Any, lambda_context: Any) -> None:
    missing = "s3://ml-artifacts-123456789012/rc-fraud-detection/v1/nothing-here.json"
    arn = registry.register(metrics_uri=missing)["ModelPackageArn"]

    validate(registry.event_for(arn), lambda_context)

    package = registry.describe(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert f"metrics not found: {missing}" in package["ApprovalDescription"]
    assert package["CustomerMetadataProperties"][STATUS_KEY] == "failed"


def test_unreadable_metrics_can_be_let_through_by_policy(registry: Any, lambda_context: Any) -> None:
    registry.write_policy('[defaults.validation]\nmin = { auc = 0.8 }\non_missing_metrics = "pass"\n')
    uri = registry.put_metrics("rc-fraud-detection/v1/statistics.json", "this is not json")
    arn = registry.register(metrics_uri=uri)["ModelPackageArn"]

    validate(registry.event_for(arn), lambda_context)

    package = registry.describe(arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"][STATUS_KEY] == "passed"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ('{"auc": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
        ('{"auc": ' + "9" * 5000 + "}", "number too long"),
        ('["auc", 0.91]', "not a JSON object"),
        ('{"auc": NaN, "f1": Infinity}', "holds no numeric metrics"),
    ],
    ids=["deep", "long-integer", "not-an-object", "nan-infinity"],
)
def test_hostile_metrics_files_reject_the_version_with_the_reason(
    registry: Any, lambda_context: Any, document: str, reason: str
) -> None:
    # GIVEN a version whose statistics file is valid-looking but hostile (~10 KB nested 5,000 deep, …)
    uri = registry.put_metrics("rc-fraud-detection/v1/statistics.json", document)
    arn = registry.register(metrics_uri=uri)["ModelPackageArn"]

    # WHEN the validator judges it: no RecursionError or ValueError escapes (no retries, no DLQ)
    result = validate(registry.event_for(arn), lambda_context)

    # THEN it is rejected like any other bad metrics file, and the description says why
    assert result["action"] == "rejected"
    package = registry.describe(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert f"metrics not readable: {uri}" in package["ApprovalDescription"]
    assert reason in package["ApprovalDescription"]


def test_auto_approve_approves_a_passing_version(registry: Any, lambda_context: Any) -> None:
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.8 }\nauto_approve = true\n")
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]

    validate(registry.event_for(arn), lambda_context)

    package = registry.describe(arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert "passed validation" in package["ApprovalDescription"]


def test_regression_against_the_approved_champion_is_rejected(registry: Any, lambda_context: Any) -> None:
    # GIVEN an approved champion with AUC 0.95 and a policy allowing a 0.02 drop
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.8 }\nmax_regression = { auc = 0.02 }\n")
    champion = registry.register(metrics={"auc": 0.95}, status="Approved")
    # WHEN a candidate with AUC 0.91 (above the minimum, 0.04 below the champion) arrives
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    validate(registry.event_for(arn), lambda_context)
    # THEN it is rejected for the regression, naming the champion
    package = registry.describe(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert f"champion v{champion['ModelPackageVersion']}" in package["ApprovalDescription"]
    assert package["CustomerMetadataProperties"]["validation.champion"] == str(champion["ModelPackageVersion"])


def test_champion_metrics_come_from_its_stamp_then_from_the_cache(registry: Any, lambda_context: Any) -> None:
    # GIVEN a validated, approved champion (its stamp holds auc) under a regression policy
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.8 }\nmax_regression = { auc = 0.02 }\n")
    champion = registry.register(metrics={"auc": 0.95})["ModelPackageArn"]
    validate(registry.event_for(champion), lambda_context)
    registry.sagemaker.update_model_package(ModelPackageArn=champion, ModelApprovalStatus="Approved")
    forget_champions()  # the champion was validated by another container
    calls = registry.count_calls("sagemaker", "s3")

    def validator_calls(arn: str) -> dict[str, int]:
        event = registry.event_for(arn)
        before = dict(calls)
        validate(event, lambda_context)
        return {k: v - before.get(k, 0) for k, v in calls.items() if v - before.get(k, 0)}

    # WHEN two candidates arrive
    first = registry.register(metrics={"auc": 0.94})["ModelPackageArn"]
    first_calls = validator_calls(first)
    second = registry.register(metrics={"auc": 0.90})["ModelPackageArn"]
    second_calls = validator_calls(second)

    # THEN the first reads the champion's stamp (no S3 read of its metrics): 5 calls; the second, 4
    assert sum(first_calls.values()) == 5
    assert first_calls["s3:GetObject"] == 1
    assert second_calls == {
        "sagemaker:DescribeModelPackage": 1,
        "s3:GetObject": 1,
        "sagemaker:ListModelPackages": 1,
        "sagemaker:UpdateModelPackage": 1,
    }
    assert registry.describe(first)["CustomerMetadataProperties"]["validation.status"] == "passed"
    assert registry.describe(second)["ModelApprovalStatus"] == "Rejected"


def test_a_container_that_stamped_the_champion_needs_no_describe_of_it(registry: Any, lambda_context: Any) -> None:
    # GIVEN a champion validated (and stamped) by this container, then approved
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.8 }\nmax_regression = { auc = 0.02 }\n")
    champion = registry.register(metrics={"auc": 0.95})
    validate(registry.event_for(champion["ModelPackageArn"]), lambda_context)
    registry.sagemaker.update_model_package(ModelPackageArn=champion["ModelPackageArn"], ModelApprovalStatus="Approved")
    calls = registry.count_calls("sagemaker", "s3")

    # WHEN the first candidate after it arrives (0.04 below the champion)
    arn = registry.register(metrics={"auc": 0.91})["ModelPackageArn"]
    event = registry.event_for(arn)
    before = dict(calls)
    validate(event, lambda_context)

    # THEN 4 calls, the champion's metrics known from its own stamp, and the regression is caught
    assert {k: v - before.get(k, 0) for k, v in calls.items() if v - before.get(k, 0)} == {
        "sagemaker:DescribeModelPackage": 1,
        "s3:GetObject": 1,
        "sagemaker:ListModelPackages": 1,
        "sagemaker:UpdateModelPackage": 1,
    }
    package = registry.describe(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["CustomerMetadataProperties"]["validation.champion"] == str(champion["ModelPackageVersion"])


def test_revalidation_under_a_new_policy_drops_the_old_verdicts_keys(registry: Any, lambda_context: Any) -> None:
    # GIVEN a version that failed under a strict policy, but was not auto-rejected
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.95 }\nauto_reject = false\n")
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    validate(registry.event_for(arn), lambda_context)
    assert "validation.failed-rules" in registry.describe(arn)["CustomerMetadataProperties"]

    # WHEN the policy is relaxed and the version is validated again (e.g. its inference spec changed)
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.8 }\nauto_reject = false\n")
    validate(registry.event_for(arn, updated_fields=["InferenceSpecification"]), lambda_context)

    # THEN it is stamped passed, and the failed rules of the old verdict are gone
    stamp = registry.describe(arn)["CustomerMetadataProperties"]
    assert stamp["validation.status"] == "passed"
    assert "validation.failed-rules" not in stamp


def test_same_event_three_times_validates_once(registry: Any, lambda_context: Any) -> None:
    arn = registry.register(metrics=BAD)["ModelPackageArn"]
    event = registry.event_for(arn)
    calls = registry.count_calls("sagemaker", "s3", "dynamodb")

    results = [validate(event, lambda_context) for _ in range(3)]

    assert calls["sagemaker:UpdateModelPackage"] == 1
    assert calls["s3:GetObject"] == 1
    assert results[0] == results[1] == results[2]
    assert registry.describe(arn)["ModelApprovalStatus"] == "Rejected"


def test_own_stamp_event_does_not_validate_again(registry: Any, lambda_context: Any) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    validate(registry.event_for(arn), lambda_context)
    # the stamp re-emits an event: metadata-only, same status
    stamp_event = registry.event_for(arn, updated_fields=["CustomerMetadataProperties"])
    calls = registry.count_calls("sagemaker", "s3", "dynamodb")

    result = validate(stamp_event, lambda_context)

    assert result["action"] == "ignored"
    assert sum(calls.values()) == 0


def test_fresh_event_for_an_already_judged_version_changes_nothing(registry: Any, lambda_context: Any) -> None:
    # a different event (e.g. an InferenceSpecification update) for a version stamped under this policy
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    validate(registry.event_for(arn), lambda_context)
    event = registry.event_for(arn, updated_fields=["InferenceSpecification"])
    event["detail"]["LastModifiedTime"] = "2030-01-01T00:00:00+00:00"
    calls = registry.count_calls("sagemaker")

    result = validate(event, lambda_context)

    assert result["action"] == "skipped"
    assert calls["sagemaker:UpdateModelPackage"] == 0


def test_version_approved_meanwhile_is_left_alone(registry: Any, lambda_context: Any) -> None:
    # GIVEN the event says pending, but a person approved the version before the validator ran
    arn = registry.register(metrics=BAD)["ModelPackageArn"]
    event = registry.event_for(arn)
    registry.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    # WHEN the validator runs, THEN it does not reject an approved version
    assert validate(event, lambda_context)["action"] == "skipped"
    assert registry.describe(arn)["ModelApprovalStatus"] == "Approved"


@pytest.mark.parametrize("status", ["Approved", "Rejected"])
def test_non_pending_events_are_ignored(registry: Any, lambda_context: Any, status: str) -> None:
    arn = registry.register(metrics=BAD, status=status)["ModelPackageArn"]
    event = registry.event_for(arn, updated_fields=["ModelApprovalStatus"])
    calls = registry.count_calls("sagemaker", "s3", "dynamodb")

    result = validate(event, lambda_context)

    assert result["action"] == "ignored"
    assert sum(calls.values()) == 0


def test_unmanaged_group_is_ignored(registry: Any, lambda_context: Any) -> None:
    arn = registry.register("other-team-model", metrics=BAD)["ModelPackageArn"]
    event = registry.event_for(arn)
    calls = registry.count_calls("sagemaker", "dynamodb")

    assert validate(event, lambda_context)["action"] == "ignored"
    assert sum(calls.values()) == 0
    assert registry.describe(arn)["ModelApprovalStatus"] == "PendingManualApproval"


@pytest.mark.parametrize(
    "breakage",
    [
        lambda e: e["detail"].pop("ModelPackageArn"),
        lambda e: e["detail"].update(ModelPackageVersion="one"),
        lambda e: e["detail"].update(ModelApprovalStatus="Maybe"),
        lambda e: e.update(source="aws.s3"),
    ],
    ids=["no-arn", "version-not-int", "unknown-status", "wrong-source"],
)
def test_malformed_event_raises_typed_error_and_writes_nothing(
    registry: Any, lambda_context: Any, breakage: Any
) -> None:
    arn = registry.register(metrics=BAD)["ModelPackageArn"]
    event = registry.event_for(arn)
    breakage(event)
    calls = registry.count_calls("sagemaker", "s3", "dynamodb")

    with pytest.raises(MalformedEventError) as raised:
        validate(event, lambda_context)

    assert raised.value.event_id == event["id"]
    assert not WRITES & set(calls)
    assert sum(calls.values()) == 0
    assert registry.describe(arn)["ModelApprovalStatus"] == "PendingManualApproval"
    assert not registry.describe(arn).get("CustomerMetadataProperties")


@pytest.fixture
def with_ledger(registry: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The ledger table the stack gives the validator (LEDGER_TABLE): its verdicts are kept there."""
    from registry_workflow.ledger import DeploymentLedger

    monkeypatch.setenv("LEDGER_TABLE", "ledger-validator-test")
    DeploymentLedger("ledger-validator-test").create_table()
    return "ledger-validator-test"


def _calls_of(registry: Any, arn: str, context: Any) -> dict[str, int]:
    event = registry.event_for(arn)  # (reads the version: not the validator's call)
    calls = registry.count_calls("sagemaker", "s3")
    before = dict(calls)
    validate(event, context)
    return {k: v - before.get(k, 0) for k, v in calls.items() if v - before.get(k, 0)}


def test_a_champion_met_first_is_read_from_the_workflows_own_verdict_in_4_calls(
    registry: Any, with_ledger: str, lambda_context: Any
) -> None:
    # GIVEN a champion validated by another container (its verdict kept in the ledger), approved
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.8 }\nmax_regression = { auc = 0.02 }\n")
    champion = registry.register(metrics={"auc": 0.95})
    validate(registry.event_for(champion["ModelPackageArn"]), lambda_context)
    registry.sagemaker.update_model_package(ModelPackageArn=champion["ModelPackageArn"], ModelApprovalStatus="Approved")
    forget_champions()

    # WHEN a candidate 0.05 below it arrives at a container that never met the champion
    arn = registry.register(metrics={"auc": 0.90})["ModelPackageArn"]
    calls = _calls_of(registry, arn, lambda_context)

    # THEN 4 SageMaker and S3 calls (no Describe of the champion) and the regression is caught
    assert calls == {
        "sagemaker:DescribeModelPackage": 1,
        "s3:GetObject": 1,
        "sagemaker:ListModelPackages": 1,
        "sagemaker:UpdateModelPackage": 1,
    }
    package = registry.describe(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["CustomerMetadataProperties"]["validation.champion"] == str(champion["ModelPackageVersion"])
    assert "dropped 0.05 vs champion v1 0.95" in package["CustomerMetadataProperties"][FAILED_RULES_KEY]


def test_a_champion_without_a_kept_verdict_is_described_as_before(
    registry: Any, with_ledger: str, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a champion stamped while no verdict was kept (LEDGER_TABLE unset then), approved
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.8 }\nmax_regression = { auc = 0.02 }\n")
    monkeypatch.delenv("LEDGER_TABLE")
    champion = registry.register(metrics={"auc": 0.95})["ModelPackageArn"]
    validate(registry.event_for(champion), lambda_context)
    registry.sagemaker.update_model_package(ModelPackageArn=champion, ModelApprovalStatus="Approved")
    monkeypatch.setenv("LEDGER_TABLE", with_ledger)
    forget_champions()

    # WHEN a candidate arrives: its stamp is the only record of its metrics, read with a Describe
    calls = _calls_of(registry, registry.register(metrics={"auc": 0.94})["ModelPackageArn"], lambda_context)
    assert calls["sagemaker:DescribeModelPackage"] == 2  # the candidate, then the champion
    assert sum(calls.values()) == 5


def test_a_verdict_older_than_the_champion_is_another_versions_and_is_not_used(
    registry: Any, with_ledger: str, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN v1 validated (auc 0.99, its verdict kept), then its group deleted and created again
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.5 }\nmax_regression = { auc = 0.02 }\n")
    group = "rc-fraud-detection"
    old = registry.register(metrics={"auc": 0.99})["ModelPackageArn"]
    validate(registry.event_for(old), lambda_context)
    registry.sagemaker.delete_model_package(ModelPackageName=old)
    registry.sagemaker.delete_model_package_group(ModelPackageGroupName=group)
    registry.sagemaker.create_model_package_group(ModelPackageGroupName=group)
    # AND a new v1 under the same ARN (auc 0.80), approved with no verdict of its own kept
    monkeypatch.delenv("LEDGER_TABLE")
    new = registry.register(metrics={"auc": 0.80})["ModelPackageArn"]
    assert new == old
    validate(registry.event_for(new), lambda_context)
    registry.sagemaker.update_model_package(ModelPackageArn=new, ModelApprovalStatus="Approved")
    monkeypatch.setenv("LEDGER_TABLE", with_ledger)
    forget_champions()

    # WHEN a candidate at 0.79 arrives (within 0.02 of the real champion, far below the old 0.99)
    candidate = registry.register(metrics={"auc": 0.79})["ModelPackageArn"]
    calls = _calls_of(registry, candidate, lambda_context)

    # THEN the old verdict is not the champion's: it is described (5 calls) and the candidate passes
    assert calls["sagemaker:DescribeModelPackage"] == 2
    assert registry.describe(candidate)["CustomerMetadataProperties"][STATUS_KEY] == "passed"


def test_auto_approve_never_approves_a_version_a_person_set_back_to_pending(registry: Any, lambda_context: Any) -> None:
    # GIVEN a version auto-approved at registration, which a reviewer then set back to pending
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.8 }\nauto_approve = true\n")
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    validate(registry.event_for(arn), lambda_context)
    registry.sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="PendingManualApproval", ApprovalDescription="hold: data issue"
    )
    # AND the policy changed since, so the validator has no verdict under it
    registry.write_policy("[defaults.validation]\nmin = { auc = 0.85 }\nauto_approve = true\n")

    # WHEN the validator gets the change back to pending (its rule takes pending changes)
    validate(registry.event_for(arn, updated_fields=["ModelApprovalStatus"]), lambda_context)

    # THEN it validates and stamps, and the version stays pending: a person decided that
    package = registry.describe(arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["ApprovalDescription"] == "hold: data issue"
