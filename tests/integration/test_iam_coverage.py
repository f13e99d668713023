"""Every AWS call each function makes in a real scenario is allowed by its role in template.yaml.

moto enforces no IAM, so a call the deployed role would be refused passes here and fails on AWS:
a review found the tracker validating a queued version (S3 metrics, ListModelPackages, the
verdict's UpdateModelPackage) with none of it granted. Each test drives handlers on moto with
their calls recorded (tests/iam_policy.py), then judges every call against the role's policies
rendered from the template as CloudFormation deploys it. `IAM_COVERAGE_TEMPLATE=<path>` judges
another template (e.g. `git show HEAD:template.yaml`) with the same scenarios.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCOUNT, REGION, load_event
from deploy_support import (
    ENDPOINT,
    GROUP,
    METRICS_BUCKET,
    DeployWorld,
    endpoint_event,
    live_version,
    register_version,
    set_approval,
    set_endpoint_status,
)
from handler_loader import handler_module
from iam_policy import Call, CallRecorder, Denial, Request, RolePolicies, decide
from test_chat_approvals import job, slack  # noqa: F401 - the fixture, re-used
from test_custom_resource import cfn_event, response_url  # noqa: F401 - the fixture, re-used
from test_staged_promotion import PRODUCTION, STAGED_POLICY, live_in_staging, promote, soak
from test_standing import queued_then_policy_edited
from test_sweep import scheduled_event

pytest_plugins = ["deploy_support", "registry_fixtures", "slack_stub"]

GOOD = {"auc": 0.91}
BAD = {"auc": 0.71}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> CallRecorder:
    return CallRecorder().install(monkeypatch)


@pytest.fixture
def deployer(deployer: Any, recorder: CallRecorder) -> Any:
    """deploy_support's deployer, its calls recorded: the helpers that take it record too."""
    return recorder.as_function("DeployerFunction", deployer)


@pytest.fixture
def tracker(tracker: Any, recorder: CallRecorder) -> Any:
    return recorder.as_function("TrackerFunction", tracker)


@pytest.fixture
def validator(recorder: CallRecorder, lambda_context: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The validator with the ledger table the stack gives it (its verdicts are kept there)."""
    from registry_workflow.ledger import DeploymentLedger

    if not os.environ.get("LEDGER_TABLE"):
        monkeypatch.setenv("LEDGER_TABLE", "ledger-validator-test")
        DeploymentLedger("ledger-validator-test").create_table()
    handler = handler_module("validator").lambda_handler
    return recorder.as_function("ValidatorFunction", lambda event: handler(event, lambda_context))


def denials(recorder: CallRecorder, config_dir: Path, *functions: str) -> list[str]:
    """The recorded calls the roles would refuse, judged against the config in force at the end
    (MetricsBucket deployed as the fixtures' bucket: deploy_support and registry_fixtures share it).

    Also asserts each of `functions` made at least one call: a scenario that recorded nothing
    would pass vacuously."""
    assert recorder.functions() >= set(functions), f"no calls recorded for {set(functions) - recorder.functions()}"
    policies = RolePolicies.of_template(
        (config_dir / ".env.shared").read_text(),
        (config_dir / "policy.toml").read_text(),
        metrics_bucket=METRICS_BUCKET,
    )
    return [str(d) for d in dict.fromkeys(policies.denied(recorder.calls))]


# --- tracker ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "outcome"),
    [(0.5, "started"), (0.95, "dropped")],
    ids=["still-passes", "now-fails"],
)
def test_the_tracker_may_validate_a_queued_version_under_an_edited_policy(
    world: DeployWorld,
    deployer: Any,
    tracker: Any,
    recorder: CallRecorder,
    config_dir: Path,
    threshold: float,
    outcome: str,
) -> None:
    """The review's finding: the tracker validates inline (metrics from S3, the champion, the
    verdict stamped, a failure rejected) when a queued version has no verdict under the policy."""
    # GIVEN v3 queued behind v2's update, then the policy edited (a champion rule too: v2 is one)
    _, v3 = queued_then_policy_edited(
        world, deployer, tracker, f"min = {{ auc = {threshold} }}\nmax_regression = {{ auc = 0.5 }}"
    )
    recorder.calls.clear()  # the tracker's turn only

    # WHEN v2 goes live and the tracker takes the queue
    set_endpoint_status(ENDPOINT, "InService")
    tracked = tracker(endpoint_event(world.sagemaker))

    # THEN v3 was validated here (started or dropped), and every call of it is allowed
    started = (tracked.get("next") or {}).get("action") == "started"
    assert started == (outcome == "started")
    status = world.sagemaker.describe_model_package(ModelPackageName=v3)["ModelApprovalStatus"]
    assert status == ("Approved" if started else "Rejected")
    operations = {c.operation for c in recorder.calls}
    assert {"GetObject", "ListModelPackages", "UpdateModelPackage"} <= operations, operations
    assert not (found := denials(recorder, config_dir, "TrackerFunction")), "\n".join(found)


def test_the_tracker_sweep_may_start_a_stranded_queue_and_validate_it(
    world: DeployWorld, deployer: Any, tracker: Any, recorder: CallRecorder, config_dir: Path
) -> None:
    # GIVEN v3 queued, the policy edited, and v2's InService event lost
    queued_then_policy_edited(world, deployer, tracker, "min = { auc = 0.5 }")
    set_endpoint_status(ENDPOINT, "InService")
    recorder.calls.clear()

    # WHEN the schedule's sweep runs
    tracker(scheduled_event())

    # THEN whatever it did was allowed
    assert not (found := denials(recorder, config_dir, "TrackerFunction")), "\n".join(found)


# --- deployer --------------------------------------------------------------------------------------


def test_the_deployer_may_deploy_validate_and_roll_back(
    world: DeployWorld, deployer: Any, tracker: Any, recorder: CallRecorder, config_dir: Path
) -> None:
    # GIVEN v1 approved and deployed (the endpoint created), then v2 (an update: canary, alarms)
    live_version(world, deployer, tracker)
    v2 = live_version(world, deployer, tracker)
    # AND v3 approved without a verdict: the gate validates it with the validator's code
    v3 = register_version(world.sagemaker, validated=False)
    assert deployer(set_approval(world.sagemaker, v3, "Approved"))["action"] == "started"
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"

    # WHEN the live v3 is rejected: a rollback to v2, closed by the tracker
    rolled = deployer(set_approval(world.sagemaker, v3, "Rejected", "drift found in production"))
    assert (rolled["action"], rolled["version"]) == ("started", 2)
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    assert world.ledger.live(ENDPOINT).package_arn == v2  # type: ignore[union-attr]

    # THEN every call of both functions is allowed
    deployer_calls = {c.operation for c in recorder.calls if c.function == "DeployerFunction"}
    assert {"CreateEndpoint", "UpdateEndpoint", "GetObject", "UpdateModelPackage"} <= deployer_calls
    assert not (found := denials(recorder, config_dir, "DeployerFunction", "TrackerFunction")), "\n".join(found)


def test_the_deployer_and_tracker_may_promote_to_a_later_stage(
    world: DeployWorld, deployer: Any, tracker: Any, recorder: CallRecorder, config_dir: Path
) -> None:
    # GIVEN a version live in staging, soaked (the stage recorded on the version's ModelLifeCycle)
    (config_dir / "policy.toml").write_text(STAGED_POLICY)
    arn = live_in_staging(world, deployer, tracker)
    soak(world, f"{GROUP}-staging", 31)

    # WHEN a promoter asks for production and it goes live there
    assert deployer(promote(world, arn))["action"] == "started"
    assert tracker(endpoint_event(world.sagemaker, PRODUCTION))["action"] == "succeeded"

    # THEN every call was allowed, the lifecycle writes included
    lifecycle_writes = [
        c for c in recorder.calls if c.operation == "UpdateModelPackage" and "ModelLifeCycle" in c.params
    ]
    assert lifecycle_writes
    assert not (found := denials(recorder, config_dir, "DeployerFunction", "TrackerFunction")), "\n".join(found)


# --- validator and notifier -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "metrics", "action"),
    [
        ("min = { auc = 0.8 }", GOOD, "stamped"),
        ("min = { auc = 0.8 }", BAD, "rejected"),
        ("min = { auc = 0.8 }\nauto_approve = true", GOOD, "approved"),
        ("min = { auc = 0.8 }\nmax_regression = { auc = 0.02 }", GOOD, "rejected"),
    ],
    ids=["pass", "fail-auto-reject", "auto-approve", "champion-regression"],
)
def test_the_validator_may_judge_stamp_and_decide(
    registry: Any, validator: Any, recorder: CallRecorder, config_dir: Path, policy: str, metrics: Any, action: str
) -> None:
    # GIVEN a champion (approved, AUC 0.95) and a new version
    registry.write_policy(f"[defaults.validation]\n{policy}\n")
    registry.register(metrics={"auc": 0.95}, status="Approved")
    arn = registry.register(metrics=metrics)["ModelPackageArn"]

    # WHEN the validator judges it
    assert validator(registry.event_for(arn))["action"] == action

    # THEN every call was allowed
    assert not (found := denials(recorder, config_dir, "ValidatorFunction")), "\n".join(found)


def test_the_notifier_may_publish_and_read_the_slack_secret(
    registry: Any, slack_stub: Any, recorder: CallRecorder, config_dir: Path, lambda_context: Any
) -> None:
    # GIVEN a registration; Slack's webhook URL is in the stack's secret
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    notify = recorder.as_function("NotifierFunction", handler_module("notifier").lambda_handler)

    # WHEN the notifier announces it on SNS and Slack
    notify(registry.event_for(arn), lambda_context)

    # THEN it published, read the secret, and was allowed both
    assert slack_stub.messages
    assert {"Publish", "GetSecretValue"} <= {c.operation for c in recorder.calls}
    assert not (found := denials(recorder, config_dir, "NotifierFunction")), "\n".join(found)


# --- provisioner and Slack approvals --------------------------------------------------------------


def test_the_provisioner_may_create_verify_and_claim(
    sagemaker: Any,
    recorder: CallRecorder,
    config_dir: Path,
    lambda_context: Any,
    response_url: Any,  # noqa: F811
) -> None:
    provision = recorder.as_function("ProvisionerFunction", handler_module("provisioner").lambda_handler)
    url, received = response_url

    # WHEN the stack's custom resource creates the groups (claiming the account), then a hand run verifies
    provision(cfn_event("Create", url), lambda_context)
    provision(load_event("provision"), lambda_context)

    # THEN every call was allowed
    assert [r["Status"] for r in received] == ["SUCCESS"]
    assert {"CreateModelPackageGroup", "PutParameter"} <= {c.operation for c in recorder.calls}
    assert not (found := denials(recorder, config_dir, "ProvisionerFunction")), "\n".join(found)


def test_the_slack_approvals_function_may_decide_a_version(
    world: DeployWorld,
    recorder: CallRecorder,
    config_dir: Path,
    slack: Any,  # noqa: F811
) -> None:
    """The decision path of the Slack function (`ChatApprovals.carry_out`, as its queue handler
    runs it) with test_chat_approvals' wiring: its own role's SageMaker client, the ledger; the
    secrets are given there as values, so their reads are not recorded here."""
    service, _, _ = slack
    arn = register_version(world.sagemaker)
    decide_in_slack = recorder.as_function("SlackApprovalsFunction", service.carry_out)

    assert decide_in_slack(job(arn)) == "approved"

    assert "UpdateModelPackage" in {c.operation for c in recorder.calls}
    assert not (found := denials(recorder, config_dir, "SlackApprovalsFunction")), "\n".join(found)


# --- the evaluator itself: it refuses what IAM refuses --------------------------------------------


def test_the_evaluator_denies_what_the_roles_do_not_grant(world: DeployWorld, config_dir: Path) -> None:
    """So that the tests above cannot pass by an evaluator that allows everything."""
    policies = RolePolicies.of_template(
        (config_dir / ".env.shared").read_text(),
        (config_dir / "policy.toml").read_text(),
        metrics_bucket=METRICS_BUCKET,
    )
    package = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/1"

    def judged(function: str, operation: str, region: str = REGION, **params: Any) -> list[Denial]:
        service = "cloudwatch" if operation == "PutMetricAlarm" else "sagemaker"
        return policies.denied([Call(function, service, operation, params, region)])

    # a promotion request (StageStatus Approved) by the deployer: a person's call, never its own
    assert judged(
        "DeployerFunction",
        "UpdateModelPackage",
        ModelPackageArn=package,
        ModelLifeCycle={"Stage": "production", "StageStatus": "Approved"},
    )
    # the same write as a record of a deployment is allowed (the control)
    assert not judged(
        "DeployerFunction",
        "UpdateModelPackage",
        ModelPackageArn=package,
        ModelLifeCycle={"Stage": "production", "StageStatus": "Deployed"},
    )
    # an action missing from the role: the notifier never creates endpoints
    assert judged("NotifierFunction", "CreateEndpoint", EndpointName=ENDPOINT, EndpointConfigName="c")
    # another region than the stack's
    assert judged("DeployerFunction", "DescribeEndpoint", region="eu-west-1", EndpointName=ENDPOINT)
    assert not judged("DeployerFunction", "DescribeEndpoint", EndpointName=ENDPOINT)
    # another team's endpoint (not a managed team's prefix)
    assert judged("DeployerFunction", "DescribeEndpoint", EndpointName="other-team-endpoint")
    # an alarm outside the managed teams' names
    assert judged("TrackerFunction", "PutMetricAlarm", AlarmName="someone-elses-alarm")


def test_the_evaluator_follows_iam_on_deny_and_unknown_condition_keys() -> None:
    allow = {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "sagemaker:UpdateModelPackage", "Resource": "*"}
    unknown = {**allow, "Condition": {"StringEquals": {"aws:PrincipalTag/team": "rc"}}}
    request = Request("sagemaker:UpdateModelPackage", "arn:aws:sagemaker:us-east-1:1:model-package/a/1", {})

    assert decide([allow], request) == (True, "")
    assert decide([allow, deny], request)[0] is False  # an explicit Deny wins
    allowed, why = decide([unknown], request)
    assert not allowed
    assert "aws:PrincipalTag/team is not modelled" in why
    # a Deny whose condition it cannot evaluate may apply: never allowed by not knowing
    unknown_deny = {**deny, "Condition": {"StringEquals": {"aws:PrincipalTag/team": "rc"}}}
    allowed, why = decide([allow, unknown_deny], request)
    assert not allowed
    assert "may deny" in why
    # IAM actions are case-insensitive
    assert decide([{**allow, "Action": "SageMaker:updatemodelpackage"}], request)[0]
