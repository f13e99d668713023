"""The per-team registrant, approver and promoter policies, and the functions' team scoping, decide as intended.

How this is proven: moto's IAM enforcement (server mode, `INITIAL_NO_AUTH_ACTION_COUNT`) checks
every SageMaker call against the resource "*" (moto computes request ARNs for S3 only), so a
policy scoped to ARNs denies even the calls it allows there; it cannot tell teams apart. Nor does
it read any request's condition keys: a policy allowing only `sagemaker:ModelLifeCycle:stage`
"production" lets a "staging" request through there. The rendered policies are therefore judged
by the project's own evaluator of IAM's documented rules (tests/iam_policy.py `decide`, the one
the IAM coverage test of every function's calls uses): Action and Resource wildcards per ARN
section, Deny over Allow, and conditions by IAM's rules — a key absent from the request makes a
condition false, except for negated operators and ...IfExists; Null tests presence
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
A condition key or operator the evaluator does not model never allows.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from iam_policy import Request, decide, listed
from template_render import ACCOUNT, REGION, Rendered, render

SEED = 'TEAMS="rc algo"\nRC_PROJECTS="fraud-detection anti-money-laundering"\nALGO_PROJECTS="recommendation-engine"\n'
SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
RC_VERSION = f"{SM}:model-package/rc-fraud-detection/3"
ALGO_VERSION = f"{SM}:model-package/algo-recommendation-engine/1"
RC_GROUP = f"{SM}:model-package-group/rc-fraud-detection"
ALGO_GROUP = f"{SM}:model-package-group/algo-recommendation-engine"
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)  # samtranslator asks boto3 (module scope)
    return render(SEED, stand_ins=False)


#: ModelLifeCycle as the condition keys carry it: a promotion request, the workflow's record
PROMOTE_TO_PRODUCTION = {
    "sagemaker:ModelLifeCycle:stage": "production",
    "sagemaker:ModelLifeCycle:stageStatus": "Approved",
}
PROMOTE_TO_STAGING = {"sagemaker:ModelLifeCycle:stage": "staging", "sagemaker:ModelLifeCycle:stageStatus": "Approved"}
LIVE_IN_PRODUCTION = {
    "sagemaker:ModelLifeCycle:stage": "production",
    "sagemaker:ModelLifeCycle:stageStatus": "Deployed",
}


def allowed(
    documents: list[dict[str, Any]],
    action: str,
    resource: str,
    region: str = REGION,
    context: dict[str, str] | None = None,
) -> bool:
    """IAM's answer for one identity holding these policies (tests/iam_policy.py: an Allow, no Deny).

    `context`: the request's other condition keys (e.g. ModelLifeCycle's); absent keys are absent.
    """
    statements = [statement for document in documents for statement in listed(document["Statement"])]
    request = Request(action, resource, {"aws:RequestedRegion": region, **(context or {})})
    return decide(statements, request)[0]


def managed(rendered: Rendered, logical_id: str) -> list[dict[str, Any]]:
    return [rendered.resources[logical_id]["Properties"]["PolicyDocument"]]


def role(rendered: Rendered, function: str) -> list[dict[str, Any]]:
    """Every policy document of a function's role: inline ones and the stack's managed ones."""
    props = rendered.resources[f"{function}Role"]["Properties"]
    documents = [policy["PolicyDocument"] for policy in props.get("Policies", [])]
    stack_managed = {"DeploymentPermissions", "RollbackAlarmPermissions", "ValidationPermissions"}
    for arn in props.get("ManagedPolicyArns", []):
        if arn in stack_managed:  # Ref of a stack policy resolves to its logical id here
            documents += managed(rendered, arn)
    return documents


def test_registrant_registers_in_its_teams_groups_and_reads_its_metrics(rendered: Rendered) -> None:
    registrant = managed(rendered, "RegistrantPolicyrc")

    assert allowed(registrant, "sagemaker:CreateModelPackage", RC_VERSION)
    assert allowed(registrant, "sagemaker:CreateModelPackage", RC_GROUP)
    assert allowed(registrant, "sagemaker:DescribeModelPackage", RC_VERSION)
    assert allowed(registrant, "sagemaker:ListModelPackages", "*")
    assert allowed(registrant, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/rc-fraud-detection/v3/statistics.json")
    assert allowed(registrant, "s3:PutObject", f"arn:aws:s3:::{BUCKET}/rc-fraud-detection/v3/statistics.json")


def test_registrant_can_never_approve_and_stays_in_its_team(rendered: Rendered) -> None:
    registrant = managed(rendered, "RegistrantPolicyrc")

    # there is no IAM condition key on ModelApprovalStatus: no UpdateModelPackage at all
    assert not allowed(registrant, "sagemaker:UpdateModelPackage", RC_VERSION)
    assert not allowed(registrant, "sagemaker:CreateModelPackage", ALGO_VERSION)
    assert not allowed(registrant, "sagemaker:CreateModelPackage", ALGO_GROUP)
    assert not allowed(registrant, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/algo-recommendation-engine/v1/m.json")
    assert "UpdateModelPackage" not in json.dumps(registrant)


def test_approver_approves_its_teams_versions_only(rendered: Rendered) -> None:
    approver = managed(rendered, "ApproverPolicyrc")

    assert allowed(approver, "sagemaker:UpdateModelPackage", RC_VERSION)
    assert allowed(approver, "sagemaker:DescribeModelPackage", RC_VERSION)
    assert allowed(approver, "sagemaker:DescribeModelPackageGroup", RC_GROUP)
    assert not allowed(approver, "sagemaker:UpdateModelPackage", ALGO_VERSION)
    assert not allowed(approver, "sagemaker:CreateModelPackage", RC_VERSION)


def test_algo_approver_cannot_approve_rc(rendered: Rendered) -> None:
    algo = managed(rendered, "ApproverPolicyalgo")

    assert allowed(algo, "sagemaker:UpdateModelPackage", ALGO_VERSION)
    assert not allowed(algo, "sagemaker:UpdateModelPackage", RC_VERSION)


def test_functions_act_on_managed_teams_in_the_stacks_region_only(rendered: Rendered) -> None:
    validator, deployer, provisioner = (
        role(rendered, "ValidatorFunction"),
        role(rendered, "DeployerFunction"),
        role(rendered, "ProvisionerFunction"),
    )
    other = f"{SM}:model-package/ml-platform-experiment/1"

    assert allowed(validator, "sagemaker:UpdateModelPackage", RC_VERSION)
    assert allowed(validator, "sagemaker:UpdateModelPackage", ALGO_VERSION)
    assert not allowed(validator, "sagemaker:UpdateModelPackage", other)
    # the ARNs' region is a wildcard (Fn::Join needs a literal); the condition pins it
    elsewhere = RC_VERSION.replace(REGION, "eu-west-1")
    assert not allowed(validator, "sagemaker:UpdateModelPackage", elsewhere, region="eu-west-1")

    assert allowed(deployer, "sagemaker:CreateEndpoint", f"{SM}:endpoint/rc-fraud-detection-endpoint")
    assert allowed(deployer, "sagemaker:CreateEndpointConfig", f"{SM}:endpoint-config/rc-fraud-detection-endpoint-v3")
    assert allowed(deployer, "sagemaker:CreateModel", f"{SM}:model/rc-fraud-detection-v3")
    assert allowed(
        deployer,
        "cloudwatch:PutMetricAlarm",
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:rc-fraud-detection-endpoint-5xx",
    )
    assert not allowed(deployer, "sagemaker:UpdateEndpoint", f"{SM}:endpoint/ml-platform-endpoint")
    # the gate sets a refused approval back to pending (or rejects it): managed teams only
    assert allowed(deployer, "sagemaker:UpdateModelPackage", RC_VERSION)
    assert not allowed(deployer, "sagemaker:UpdateModelPackage", other)

    assert allowed(provisioner, "sagemaker:CreateModelPackageGroup", RC_GROUP)
    assert allowed(provisioner, "sagemaker:CreateModelPackageGroup", ALGO_GROUP)
    assert not allowed(provisioner, "sagemaker:CreateModelPackageGroup", f"{SM}:model-package-group/rc")
    assert not allowed(provisioner, "sagemaker:CreateModelPackageGroup", f"{SM}:model-package-group/ml-platform-x")
    claim = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/registry-workflow/owner-stack"
    assert allowed(provisioner, "ssm:PutParameter", claim)


def test_a_team_whose_prefix_covers_another_team_is_refused_by_the_config() -> None:
    from registry_workflow.config import parse_config
    from registry_workflow.errors import ConfigError

    # rc's policies cover "rc-*", so a team "rc-ops" would be approved by rc's approvers
    with pytest.raises(ConfigError, match=r'TEAMS: team "rc-ops" starts with "rc-"'):
        parse_config("TEAMS=rc rc-ops\nRC_PROJECTS=a\nRC_OPS_PROJECTS=b\n")


# --- stages: who may ask for which ModelLifeCycle (GuardedStages, default "production") -----------


def test_approver_approves_and_asks_for_any_stage_but_a_guarded_one(rendered: Rendered) -> None:
    approver = managed(rendered, "ApproverPolicyrc")

    # a plain approval carries no ModelLifeCycle: the stage keys are absent and nothing is guarded
    assert allowed(approver, "sagemaker:UpdateModelPackage", RC_VERSION)
    assert allowed(approver, "sagemaker:UpdateModelPackage", RC_VERSION, context=PROMOTE_TO_STAGING)
    assert not allowed(approver, "sagemaker:UpdateModelPackage", RC_VERSION, context=PROMOTE_TO_PRODUCTION)
    # a guarded stage in another case is still guarded (the deployer would refuse it as unknown anyway)
    shouted = {**PROMOTE_TO_PRODUCTION, "sagemaker:ModelLifeCycle:stage": "PRODUCTION"}
    assert not allowed(approver, "sagemaker:UpdateModelPackage", RC_VERSION, context=shouted)
    # people ask (Approved); only the workflow records where a version is
    assert not allowed(approver, "sagemaker:UpdateModelPackage", RC_VERSION, context=LIVE_IN_PRODUCTION)
    staging_live = {**PROMOTE_TO_STAGING, "sagemaker:ModelLifeCycle:stageStatus": "Deployed"}
    assert not allowed(approver, "sagemaker:UpdateModelPackage", RC_VERSION, context=staging_live)


def test_promoter_asks_for_a_guarded_stage_of_its_teams_versions_only(rendered: Rendered) -> None:
    promoter = managed(rendered, "PromoterPolicyrc")

    assert allowed(promoter, "sagemaker:UpdateModelPackage", RC_VERSION, context=PROMOTE_TO_PRODUCTION)
    assert allowed(promoter, "sagemaker:DescribeModelPackage", RC_VERSION)
    assert allowed(promoter, "sagemaker:DescribeModelPackageGroup", RC_GROUP)
    assert not allowed(promoter, "sagemaker:UpdateModelPackage", ALGO_VERSION, context=PROMOTE_TO_PRODUCTION)
    # nothing else: no approval, no unguarded stage, no record of a live version
    assert not allowed(promoter, "sagemaker:UpdateModelPackage", RC_VERSION)
    assert not allowed(promoter, "sagemaker:UpdateModelPackage", RC_VERSION, context=PROMOTE_TO_STAGING)
    assert not allowed(promoter, "sagemaker:UpdateModelPackage", RC_VERSION, context=LIVE_IN_PRODUCTION)
    assert not allowed(promoter, "sagemaker:CreateModelPackage", RC_GROUP, context=PROMOTE_TO_PRODUCTION)


def test_a_person_holding_approver_and_promoter_policies_can_do_both(rendered: Rendered) -> None:
    """No explicit Deny in the approver policy: it would override the promoter's Allow."""
    both = managed(rendered, "ApproverPolicyrc") + managed(rendered, "PromoterPolicyrc")

    assert allowed(both, "sagemaker:UpdateModelPackage", RC_VERSION)
    assert allowed(both, "sagemaker:UpdateModelPackage", RC_VERSION, context=PROMOTE_TO_STAGING)
    assert allowed(both, "sagemaker:UpdateModelPackage", RC_VERSION, context=PROMOTE_TO_PRODUCTION)
    # rc's promoter is no promoter of algo's versions, whatever else rc's people hold
    algo_approver = managed(rendered, "ApproverPolicyalgo")
    assert not allowed(
        both + algo_approver, "sagemaker:UpdateModelPackage", ALGO_VERSION, context=PROMOTE_TO_PRODUCTION
    )


def test_registrant_never_registers_a_version_in_a_guarded_stage(rendered: Rendered) -> None:
    registrant = managed(rendered, "RegistrantPolicyrc")

    assert allowed(registrant, "sagemaker:CreateModelPackage", RC_GROUP)
    assert allowed(registrant, "sagemaker:CreateModelPackage", RC_GROUP, context=PROMOTE_TO_STAGING)
    assert not allowed(registrant, "sagemaker:CreateModelPackage", RC_GROUP, context=PROMOTE_TO_PRODUCTION)
    assert not allowed(registrant, "sagemaker:UpdateModelPackage", RC_VERSION, context=PROMOTE_TO_STAGING)


def test_the_workflow_records_stages_but_never_asks_for_a_promotion(rendered: Rendered) -> None:
    """The deployer's and tracker's ModelLifeCycle writes can never say Approved: that is a
    person's promotion request, and the deployer's own rule would take it for one."""
    deployer, tracker = role(rendered, "DeployerFunction"), role(rendered, "TrackerFunction")
    other = f"{SM}:model-package/ml-platform-experiment/1"
    set_back = {**PROMOTE_TO_STAGING, "sagemaker:ModelLifeCycle:stageStatus": "Deployed"}

    for function in (deployer, tracker):
        assert allowed(function, "sagemaker:UpdateModelPackage", RC_VERSION, context=LIVE_IN_PRODUCTION)
        assert allowed(function, "sagemaker:UpdateModelPackage", ALGO_VERSION, context=set_back)
        assert not allowed(function, "sagemaker:UpdateModelPackage", RC_VERSION, context=PROMOTE_TO_PRODUCTION)
        assert not allowed(function, "sagemaker:UpdateModelPackage", RC_VERSION, context=PROMOTE_TO_STAGING)
        assert not allowed(function, "sagemaker:UpdateModelPackage", other, context=LIVE_IN_PRODUCTION)
    # the gate's approval changes and verdict stamps carry no ModelLifeCycle: the deployer's, and
    # the tracker's when a queued version is validated under a new policy before it starts
    assert allowed(deployer, "sagemaker:UpdateModelPackage", RC_VERSION)
    assert allowed(tracker, "sagemaker:UpdateModelPackage", RC_VERSION)


def test_every_stage_condition_names_the_guarded_stages_parameter() -> None:
    from test_template import raw_template

    template = raw_template()
    assert template["Parameters"]["GuardedStages"]["Default"] == "production"
    resources = template["Resources"]
    for logical in ("RegistrantPolicyrc", "ApproverPolicyrc", "PromoterPolicyalgo"):
        text = json.dumps(resources[logical]["Properties"]["PolicyDocument"])
        assert '"sagemaker:ModelLifeCycle:stage": {"Ref": "GuardedStages"}' in text, logical


def test_the_validator_and_the_slack_function_decide_but_never_touch_a_stage(rendered: Rendered) -> None:
    """The Slack function is behind an unauthenticated URL; neither it nor the validator ever sets a
    stage: a promotion to production must come from a promoter, whom IAM alone decides."""
    for function in ("ValidatorFunction", "SlackApprovalsFunction"):
        documents = role(rendered, function)
        assert allowed(documents, "sagemaker:UpdateModelPackage", RC_VERSION), function  # approve / reject
        assert allowed(documents, "sagemaker:DescribeModelPackage", RC_VERSION), function
        for stage in (PROMOTE_TO_PRODUCTION, PROMOTE_TO_STAGING, LIVE_IN_PRODUCTION):
            assert not allowed(documents, "sagemaker:UpdateModelPackage", RC_VERSION, context=stage), function
