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


# --- ModelLifeCycle (stages): stored, described, listed, searched, in the events -------------------


def _unvalidated_client() -> Any:
    """botocore checks required members and lengths before sending: this client lets the twin check them."""
    import boto3
    from botocore.config import Config

    return boto3.client("sagemaker", config=Config(parameter_validation=False))


def _changes() -> tuple[list[dict[str, Any]], Any]:
    payloads: list[dict[str, Any]] = []
    unsubscribe = moto_fixes.subscribe(
        lambda kind, payload: payloads.append(payload) if kind == "model_package" else None
    )
    return payloads, unsubscribe


def test_life_cycle_is_absent_until_set_then_described_and_listed(sagemaker: Any) -> None:
    plain = new_version(sagemaker)
    staged = sagemaker.create_model_package(
        ModelPackageGroupName="rc-fraud-detection",
        InferenceSpecification=SPEC,
        ModelLifeCycle={"Stage": "staging", "StageStatus": "PendingApproval", "StageDescription": "first look"},
    )["ModelPackageArn"]

    assert "ModelLifeCycle" not in sagemaker.describe_model_package(ModelPackageName=plain)
    assert sagemaker.describe_model_package(ModelPackageName=staged)["ModelLifeCycle"] == {
        "Stage": "staging",
        "StageStatus": "PendingApproval",
        "StageDescription": "first look",
    }
    summaries = sagemaker.list_model_packages(ModelPackageGroupName="rc-fraud-detection")["ModelPackageSummaryList"]
    assert [s.get("ModelLifeCycle", {}).get("Stage") for s in summaries] == [None, "staging"]


def test_update_sets_the_life_cycle_whole_and_names_it_in_the_updated_fields(sagemaker: Any) -> None:
    arn = new_version(sagemaker)
    payloads, unsubscribe = _changes()
    try:
        sagemaker.update_model_package(
            ModelPackageArn=arn,
            ModelLifeCycle={"Stage": "staging", "StageStatus": "Deployed", "StageDescription": "live since 10:00"},
        )
        sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"k": "v"})
        # the structure is replaced whole: no StageDescription now
        sagemaker.update_model_package(
            ModelPackageArn=arn,
            ModelApprovalStatus="Approved",
            ModelLifeCycle={"Stage": "production", "StageStatus": "Approved"},
        )
    finally:
        unsubscribe()

    assert [p["updated_fields"] for p in payloads] == [
        ["ModelLifeCycle"],
        ["CustomerMetadataProperties"],  # a metadata change keeps the stage and does not name it
        ["ModelApprovalStatus", "ModelLifeCycle"],
    ]
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelLifeCycle"] == {"Stage": "production", "StageStatus": "Approved"}
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["CustomerMetadataProperties"] == {"k": "v"}


def test_the_state_change_event_carries_the_life_cycle_in_aws_shape(sagemaker: Any) -> None:
    from registry_workflow.local.twin import model_package_event

    arn = new_version(sagemaker)
    payloads, unsubscribe = _changes()
    try:
        sagemaker.update_model_package(
            ModelPackageArn=arn, ModelLifeCycle={"Stage": "staging", "StageStatus": "Deployed"}
        )
        sagemaker.update_model_package(ModelPackageArn=arn, ApprovalDescription="looked at it")
    finally:
        unsubscribe()

    stamped, described_again = (model_package_event(p)["detail"] for p in payloads)
    assert stamped["ModelLifeCycle"] == {"Stage": "staging", "StageStatus": "Deployed"}
    assert stamped["UpdatedModelPackageFields"] == ["ModelLifeCycle"]
    # every later event describes the package as it is, stage included
    assert described_again["ModelLifeCycle"] == {"Stage": "staging", "StageStatus": "Deployed"}
    assert described_again["UpdatedModelPackageFields"] == ["ApprovalDescription"]


@pytest.mark.parametrize(
    ("life_cycle", "message"),
    [
        (
            {"StageStatus": "Approved"},
            "Value null at 'modelLifeCycle.stage' failed to satisfy constraint: Member must not be null",
        ),
        ({"Stage": "production"}, "Value null at 'modelLifeCycle.stageStatus'"),
        ({"Stage": "pre_production", "StageStatus": "Approved"}, "Member must satisfy regular expression pattern"),
        ({"Stage": "-production", "StageStatus": "Approved"}, "Member must satisfy regular expression pattern"),
        ({"Stage": "production", "StageStatus": "Approved now"}, "at 'modelLifeCycle.stageStatus'"),
        ({"Stage": "p" * 64, "StageStatus": "Approved"}, "Member must have length less than or equal to 63"),
        ({"Stage": "", "StageStatus": "Approved"}, "Member must have length greater than or equal to 1"),
        (
            {"Stage": "production", "StageStatus": "Approved", "StageDescription": "x" * 1025},
            "at 'modelLifeCycle.stageDescription' failed to satisfy constraint: "
            "Member must have length less than or equal to 1024",
        ),
        ({}, "2 validation errors detected"),
    ],
)
def test_an_invalid_life_cycle_is_refused_and_changes_nothing(
    sagemaker: Any, life_cycle: dict[str, str], message: str
) -> None:
    arn = new_version(sagemaker)
    payloads, unsubscribe = _changes()
    try:
        with pytest.raises(ClientError, match="ValidationException") as refused:
            _unvalidated_client().update_model_package(
                ModelPackageArn=arn, ModelApprovalStatus="Approved", ModelLifeCycle=life_cycle
            )
    finally:
        unsubscribe()

    assert message in refused.value.response["Error"]["Message"]
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert "ModelLifeCycle" not in described
    assert described["ModelApprovalStatus"] == "PendingManualApproval"  # the whole call was refused
    assert payloads == []


def test_a_stage_and_description_at_their_limits_are_accepted(sagemaker: Any) -> None:
    arn = new_version(sagemaker)
    life_cycle = {"Stage": "a--b" + "c" * 59, "StageStatus": "Approved", "StageDescription": "why: " + "x" * 1019}
    assert len(life_cycle["Stage"]) == 63
    assert len(life_cycle["StageDescription"]) == 1024

    sagemaker.update_model_package(ModelPackageArn=arn, ModelLifeCycle=life_cycle)

    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelLifeCycle"] == life_cycle


def test_a_version_with_an_invalid_life_cycle_is_not_created(sagemaker: Any) -> None:
    new_version(sagemaker)
    with pytest.raises(ClientError, match="regular expression pattern"):
        sagemaker.create_model_package(
            ModelPackageGroupName="rc-fraud-detection",
            InferenceSpecification=SPEC,
            ModelLifeCycle={"Stage": "staging env", "StageStatus": "Deployed"},
        )

    summaries = sagemaker.list_model_packages(ModelPackageGroupName="rc-fraud-detection")["ModelPackageSummaryList"]
    assert len(summaries) == 1


def test_search_filters_model_packages_on_the_life_cycle(sagemaker: Any) -> None:
    staging, production, unstaged = new_version(sagemaker), new_version(sagemaker), new_version(sagemaker)
    sagemaker.update_model_package(
        ModelPackageArn=staging, ModelLifeCycle={"Stage": "staging", "StageStatus": "Deployed"}
    )
    sagemaker.update_model_package(
        ModelPackageArn=production, ModelLifeCycle={"Stage": "production", "StageStatus": "Deployed"}
    )

    def found(*filters: dict[str, str]) -> set[str]:
        results = sagemaker.search(Resource="ModelPackage", SearchExpression={"Filters": list(filters)})["Results"]
        return {r["ModelPackage"]["ModelPackageArn"] for r in results}

    assert found({"Name": "ModelLifeCycle.Stage", "Operator": "Equals", "Value": "production"}) == {production}
    assert found({"Name": "ModelLifeCycle.Stage", "Value": "staging"}) == {staging}  # Equals is the default
    assert found({"Name": "ModelLifeCycle.StageStatus", "Operator": "Equals", "Value": "Deployed"}) == {
        staging,
        production,
    }
    assert found({"Name": "ModelLifeCycle.Stage", "Operator": "NotExists"}) == {unstaged}
    with pytest.raises(ClientError, match="Unknown property name"):
        found({"Name": "ModelLifeCycle.Owner", "Value": "me"})


# --- TransactWriteItems: item-level snapshot and rollback --------------------------------------------


def _table(dynamodb: Any, name: str, *, range_key: bool = False) -> None:
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "sk", "AttributeType": "S"})
    dynamodb.create_table(
        TableName=name, KeySchema=keys, AttributeDefinitions=attributes, BillingMode="PAY_PER_REQUEST"
    )


def _contents(dynamodb: Any, name: str) -> list[dict[str, Any]]:
    items = dynamodb.scan(TableName=name, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item.get("sk", {}).get("S", "")))


@pytest.fixture
def no_table_copies(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A transaction that deep-copied a whole table (moto's own backup) fails here."""
    from moto.dynamodb.models.table import Table

    def refuse(self: Any, memo: Any) -> Any:
        raise AssertionError(f"table {self.name} was copied whole")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)


def test_a_failed_transaction_puts_back_exactly_the_items_it_touched(no_table_copies: None) -> None:
    from registry_workflow import aws

    dynamodb = aws.client("dynamodb")
    _table(dynamodb, "plain")
    _table(dynamodb, "ranged", range_key=True)
    for i in range(3):
        dynamodb.put_item(TableName="plain", Item={"pk": {"S": f"p{i}"}, "n": {"N": str(i)}})
        dynamodb.put_item(TableName="ranged", Item={"pk": {"S": "h"}, "sk": {"S": f"s{i}"}, "n": {"N": str(i)}})
    before = {name: _contents(dynamodb, name) for name in ("plain", "ranged")}

    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "plain", "Item": {"pk": {"S": "new"}}}},
                {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "h"}, "sk": {"S": "s0"}, "n": {"N": "99"}}}},
                {
                    "Update": {
                        "TableName": "plain",
                        "Key": {"pk": {"S": "p1"}},
                        "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "42"}},
                    }
                },
                {"Delete": {"TableName": "ranged", "Key": {"pk": {"S": "h"}, "sk": {"S": "s2"}}}},
                {"Delete": {"TableName": "plain", "Key": {"pk": {"S": "p2"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "plain",
                        "Key": {"pk": {"S": "p0"}},
                        "ConditionExpression": "n = :never",
                        "ExpressionAttributeValues": {":never": {"N": "7"}},
                    }
                },
            ]
        )
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert {name: _contents(dynamodb, name) for name in ("plain", "ranged")} == before


def test_a_transaction_that_passes_writes_every_item_and_nothing_else(no_table_copies: None) -> None:
    from registry_workflow import aws

    dynamodb = aws.client("dynamodb")
    _table(dynamodb, "plain")
    dynamodb.put_item(TableName="plain", Item={"pk": {"S": "keep"}})
    dynamodb.put_item(TableName="plain", Item={"pk": {"S": "gone"}})
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": "plain",
                    "Item": {"pk": {"S": "new"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Delete": {"TableName": "plain", "Key": {"pk": {"S": "gone"}}}},
        ]
    )
    assert [item["pk"]["S"] for item in _contents(dynamodb, "plain")] == ["keep", "new"]


def test_a_transaction_naming_one_item_twice_is_refused_and_changes_nothing(no_table_copies: None) -> None:
    from registry_workflow import aws

    dynamodb = aws.client("dynamodb")
    _table(dynamodb, "plain")
    dynamodb.put_item(TableName="plain", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "plain", "Item": {"pk": {"S": "a"}, "n": {"N": "2"}}}},
                {"Put": {"TableName": "plain", "Item": {"pk": {"S": "a"}, "n": {"N": "3"}}}},
            ]
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _contents(dynamodb, "plain") == [{"pk": {"S": "a"}, "n": {"N": "1"}}]


def test_a_failed_transaction_naming_a_table_by_arn_is_put_back_too(no_table_copies: None) -> None:
    from registry_workflow import aws

    dynamodb = aws.client("dynamodb")
    _table(dynamodb, "plain")
    arn = dynamodb.describe_table(TableName="plain")["Table"]["TableArn"]
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": arn, "Item": {"pk": {"S": "via-arn"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "plain",
                        "Key": {"pk": {"S": "absent"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert _contents(dynamodb, "plain") == []


def test_a_fix_on_a_heavy_moto_module_is_installed_when_it_is_imported_not_before() -> None:
    # moto's CloudFormation models import most of EC2's; a twin that never serves CloudFormation
    # must not pay for them, yet a stack described later still shows list parameters as given
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import sys
        from registry_workflow.local import moto_fixes
        moto_fixes.apply()
        assert "moto.cloudformation.models" not in sys.modules, "imported at apply()"
        from moto.cloudformation.models import Stack
        stack = Stack.__new__(Stack)
        # a stack as moto keeps it: the CommaDelimitedList parameter split into a list
        kept = {"no_echo_parameter_keys": [], "resolved_parameters": {"Teams": ["rc", "algo"]}}
        stack.resource_map = type("M", (), kept)()
        print([p["ParameterValue"] for p in Stack.parameter_list.fget(stack)])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['rc,algo']"


def test_when_imported_patches_a_module_already_imported_at_once() -> None:
    import json

    seen: list[Any] = []
    moto_fixes._when_imported("json", seen.append)
    assert seen == [json]


def test_sns_signs_every_subscriptions_messages_with_one_key(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from cryptography.hazmat.primitives.asymmetric import rsa
    from registry_workflow import aws

    generated: list[int] = []
    generate = rsa.generate_private_key
    monkeypatch.setattr(rsa, "generate_private_key", lambda **kw: generated.append(1) or generate(**kw))
    moto_fixes._sns_signing_key.cache_clear()
    sns, sqs = aws.client("sns"), aws.client("sqs")
    for name in ("a", "b", "c"):
        topic = sns.create_topic(Name=name)["TopicArn"]
        queue = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        sns.publish(TopicArn=topic, Message=f"to {name}")
        [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
        body = json.loads(message["Body"])
        assert (body["Message"], body["SignatureVersion"]) == (f"to {name}", "2")
        assert body["Signature"]
    # three subscriptions' messages signed, one key made (moto made one per subscription)
    assert len(generated) == 1


def _fake_module(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    (tmp_path / f"{name}.py").write_text("VALUE = 'original'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("sys.meta_path", list(__import__("sys").meta_path))  # our finders leave with the test


def test_when_imported_survives_a_find_spec_probe(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import importlib.util

    _fake_module(tmp_path, monkeypatch, "probed_module")
    moto_fixes._when_imported("probed_module", lambda m: setattr(m, "VALUE", "patched"))
    assert importlib.util.find_spec("probed_module") is not None  # an existence check, no import

    assert importlib.import_module("probed_module").VALUE == "patched"


def test_when_imported_a_failing_patch_fails_every_import_not_only_the_first(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    _fake_module(tmp_path, monkeypatch, "renamed_module")

    def patch(module: Any) -> None:
        raise AttributeError("moto renamed what the fix patches")

    moto_fixes._when_imported("renamed_module", patch)
    for _ in range(2):
        with pytest.raises(AttributeError, match="moto renamed"):
            importlib.import_module("renamed_module")
