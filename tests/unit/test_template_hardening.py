"""template.yaml hardening: encryption at rest everywhere, and alarms that reach people."""

from __future__ import annotations

from typing import Any

from conftest import REPO
from test_template import raw_template


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in raw_template()["Resources"].items() if v["Type"] == kind}


def test_tables_topics_and_queues_are_encrypted() -> None:
    for name, table in _of_type("AWS::DynamoDB::Table").items():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True, name
    for name, queue in _of_type("AWS::SQS::Queue").items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True, name
    for name, topic in _of_type("AWS::SNS::Topic").items():
        # a customer managed key: CloudWatch cannot publish alarms to an alias/aws/sns topic
        assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "NotificationKey"}, name


def test_the_topic_key_lets_cloudwatch_alarms_publish() -> None:
    key = raw_template()["Resources"]["NotificationKey"]["Properties"]
    principals = [s["Principal"] for s in key["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals
    assert key["EnableKeyRotation"] is True


def test_every_function_has_an_errors_alarm_and_deploy_failures_are_alarmed() -> None:
    alarms = list(_of_type("AWS::CloudWatch::Alarm").values())
    errors = {
        a["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for a in alarms
        if a["Properties"]["Namespace"] == "AWS/Lambda" and a["Properties"]["MetricName"] == "Errors"
    }
    assert errors == set(_of_type("AWS::Serverless::Function"))
    [failed] = [a for a in alarms if a["Properties"]["MetricName"] == "DeploymentsFailed"]
    assert failed["Properties"]["Namespace"] == "RegistryWorkflow"
    package = REPO / "layers/registry_workflow/registry_workflow/deployment"
    code = "".join(path.read_text() for path in package.glob("*.py"))
    assert 'name="DeploymentsFailed"' in code  # the alarm watches a metric the code emits


def test_every_alarm_notifies_the_topic_and_names_the_runbook() -> None:
    for name, alarm in _of_type("AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "NotificationTopic"}], name
        assert "docs/operations.md" in alarm["Properties"]["AlarmDescription"], name
