"""The project's fixes for moto's SageMaker gaps behave as AWS does (../shared/AWS-FACTS.md)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from registry_workflow.local import moto_fixes

SPEC = {
    "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"}],
    "SupportedContentTypes": ["application/json"],
    "SupportedResponseMIMETypes": ["application/json"],
}


def new_version(sagemaker: Any, group: str = "rc-fraud-detection") -> str:
    with contextlib.suppress(ClientError):
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    return sagemaker.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval", InferenceSpecification=SPEC
    )["ModelPackageArn"]


def test_creating_an_existing_group_is_refused(sagemaker: Any) -> None:
    sagemaker.create_model_package_group(ModelPackageGroupName="rc-a", ModelPackageGroupDescription="first")
    with pytest.raises(ClientError, match="already exists"):
        sagemaker.create_model_package_group(ModelPackageGroupName="rc-a", ModelPackageGroupDescription="second")
    assert (
        sagemaker.describe_model_package_group(ModelPackageGroupName="rc-a")["ModelPackageGroupDescription"] == "first"
    )


def test_update_keeps_omitted_fields(sagemaker: Any) -> None:
    arn = new_version(sagemaker)
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription="bad")

    sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"k": "v"})
    sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"k2": "v2"})

    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ApprovalDescription"] == "bad"
    assert described["CustomerMetadataProperties"] == {"k": "v", "k2": "v2"}


def test_delete_group_refuses_while_versions_exist(sagemaker: Any) -> None:
    arn = new_version(sagemaker)
    with pytest.raises(ClientError, match="contains model packages"):
        sagemaker.delete_model_package_group(ModelPackageGroupName="rc-fraud-detection")

    sagemaker.delete_model_package(ModelPackageName=arn)
    sagemaker.delete_model_package_group(ModelPackageGroupName="rc-fraud-detection")

    with pytest.raises(ClientError, match="does not exist"):
        sagemaker.describe_model_package_group(ModelPackageGroupName="rc-fraud-detection")


def _endpoint(sagemaker: Any, version: int) -> None:
    sagemaker.create_model(
        ModelName=f"m{version}",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
        Containers=[{"Image": "x"}],
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"c{version}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"m{version}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )


def test_update_endpoint_switches_config_and_refuses_while_busy(sagemaker: Any) -> None:
    _endpoint(sagemaker, 1)
    _endpoint(sagemaker, 2)
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"

    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "c2"

    from moto.sagemaker.models import sagemaker_backends

    sagemaker_backends["123456789012"]["us-east-1"].endpoints["ep"].endpoint_status = "Updating"
    with pytest.raises(ClientError, match="Cannot update in-progress endpoint"):
        sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="c1")


def test_failed_update_leaves_endpoint_in_service_on_the_old_config(sagemaker: Any) -> None:
    _endpoint(sagemaker, 1)
    _endpoint(sagemaker, 2)
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    moto_fixes.behaviour.fail_next = "alarm fired: 5XX errors"

    sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="c2")

    described = sagemaker.describe_endpoint(EndpointName="ep")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "c1")
    assert described["FailureReason"] == "alarm fired: 5XX errors"


def test_duplicates_are_refused(sagemaker: Any) -> None:
    _endpoint(sagemaker, 1)
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    with pytest.raises(ClientError, match="already existing model"):
        sagemaker.create_model(
            ModelName="m1", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm", Containers=[{"Image": "x"}]
        )
    with pytest.raises(ClientError, match="already existing endpoint configuration"):
        sagemaker.create_endpoint_config(
            EndpointConfigName="c1",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "m1",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
    with pytest.raises(ClientError, match="already existing endpoint"):
        sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="c1")


def test_changes_are_published_with_updated_fields(sagemaker: Any) -> None:
    seen: list[tuple[str, Any]] = []
    unsubscribe = moto_fixes.subscribe(lambda kind, payload: seen.append((kind, payload.get("updated_fields"))))
    try:
        arn = new_version(sagemaker)
        sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"a": "b"})
    finally:
        unsubscribe()
    assert seen == [
        ("model_package", None),
        ("model_package", ["ModelApprovalStatus"]),
        ("model_package", ["CustomerMetadataProperties"]),
    ]


def test_concurrent_dynamodb_calls_are_atomic(mocked_aws: None) -> None:
    """Twenty threads race one conditional write while others read and transact: one wins, none 500s."""
    from concurrent.futures import ThreadPoolExecutor

    from registry_workflow import aws

    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(200):
        dynamodb.put_item(TableName="t", Item={"pk": {"S": f"filler-{i}"}})

    def claim(i: int) -> str:
        try:
            dynamodb.put_item(
                TableName="t",
                Item={"pk": {"S": "lock"}, "owner": {"S": str(i)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "won"

    def churn(i: int) -> int:
        dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": f"new-{i}"}}}}])
        return len(dynamodb.scan(TableName="t")["Items"])

    with ThreadPoolExecutor(20) as pool:
        claims = [pool.submit(claim, i) for i in range(20)]
        churned = [pool.submit(churn, i) for i in range(20)]
        outcomes = [f.result() for f in claims]
        assert all(f.result() > 200 for f in churned)

    assert outcomes.count("won") == 1
    assert outcomes.count("ConditionalCheckFailedException") == 19
