"""The per-team registrant and approver policies, and the functions' team scoping, decide as intended.

How this is proven: moto's IAM enforcement (server mode, `INITIAL_NO_AUTH_ACTION_COUNT`) checks
every SageMaker call against the resource "*" (moto computes request ARNs for S3 only), so a
policy scoped to ARNs denies even the calls it allows there; it cannot tell teams apart. The
rendered policies are therefore evaluated here with moto's own statement evaluator
(`moto.iam.access_control.IAMPolicy`, the code its enforcement runs: Action and Resource
wildcards, Deny over Allow, StringEquals conditions), given the ARN AWS authorises each call on
(Service Authorization Reference: the version `model-package/<group>/<n>`, the group, the S3
object). Its `*` may also span ARN segments, where AWS's does not: it can only allow more than
AWS, so every refusal below is a refusal on AWS too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult
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


def allowed(documents: list[dict[str, Any]], action: str, resource: str, region: str = REGION) -> bool:
    """IAM's answer for one identity holding these policies: an Allow, and no Deny."""
    results = [
        IAMPolicy(json.dumps(document)).is_action_permitted(
            action, resource, incoming_condition_values={"aws:RequestedRegion": region}
        )
        for document in documents
    ]
    return PermissionResult.PERMITTED in results and PermissionResult.DENIED not in results


def managed(rendered: Rendered, logical_id: str) -> list[dict[str, Any]]:
    return [rendered.resources[logical_id]["Properties"]["PolicyDocument"]]


def role(rendered: Rendered, function: str) -> list[dict[str, Any]]:
    """Every policy document of a function's role: inline ones and the stack's managed ones."""
    props = rendered.resources[f"{function}Role"]["Properties"]
    documents = [policy["PolicyDocument"] for policy in props.get("Policies", [])]
    stack_managed = {"DeploymentPermissions", "RollbackAlarmPermissions"}
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
