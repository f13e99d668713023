"""The twin's CloudWatch alarm history (registry_workflow.local.moto_alarms): what AWS answers, and keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from registry_workflow import aws

ALARM = {
    "MetricName": "Invocation5XXErrors",
    "Namespace": "AWS/SageMaker",
    "Statistic": "Sum",
    "Period": 60,
    "EvaluationPeriods": 1,
    "Threshold": 1.0,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
}


@pytest.fixture
def cloudwatch(mocked_aws: None) -> Any:
    client = aws.client("cloudwatch")
    client.put_metric_alarm(AlarmName="stage-5xx", **ALARM)
    client.put_metric_alarm(AlarmName="other-5xx", **ALARM)
    return client


def _flap(cloudwatch: Any, name: str = "stage-5xx") -> None:
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="5XX errors")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="recovered")


def test_state_changes_are_history_items_in_aws_shape_newest_first(cloudwatch: Any) -> None:
    _flap(cloudwatch)

    items = cloudwatch.describe_alarm_history(AlarmName="stage-5xx", HistoryItemType="StateUpdate")["AlarmHistoryItems"]

    assert [i["HistorySummary"] for i in items] == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM"]
    newest = json.loads(items[0]["HistoryData"])
    assert (newest["oldState"]["stateValue"], newest["newState"]["stateValue"]) == ("ALARM", "OK")
    assert newest["newState"]["stateReason"] == "recovered"
    assert {i["AlarmName"] for i in items} == {"stage-5xx"}
    assert {i["HistoryItemType"] for i in items} == {"StateUpdate"}
    assert items[0]["Timestamp"] >= items[1]["Timestamp"]
    ascending = cloudwatch.describe_alarm_history(AlarmName="stage-5xx", ScanBy="TimestampAscending")
    assert [i["HistorySummary"] for i in ascending["AlarmHistoryItems"]] == [
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
    ]


def test_history_is_filtered_by_alarm_date_and_type(cloudwatch: Any) -> None:
    _flap(cloudwatch)
    _flap(cloudwatch, "other-5xx")
    later = datetime.now(UTC) + timedelta(minutes=5)

    assert len(cloudwatch.describe_alarm_history()["AlarmHistoryItems"]) == 4
    assert cloudwatch.describe_alarm_history(AlarmName="stage-5xx", StartDate=later)["AlarmHistoryItems"] == []
    assert len(cloudwatch.describe_alarm_history(AlarmName="stage-5xx", EndDate=later)["AlarmHistoryItems"]) == 2
    assert cloudwatch.describe_alarm_history(AlarmName="stage-5xx", HistoryItemType="Action")["AlarmHistoryItems"] == []
    assert cloudwatch.describe_alarm_history(AlarmName="no-such-alarm")["AlarmHistoryItems"] == []


def test_history_pages_by_max_records(cloudwatch: Any) -> None:
    _flap(cloudwatch)
    _flap(cloudwatch)

    first = cloudwatch.describe_alarm_history(AlarmName="stage-5xx", MaxRecords=3)
    assert len(first["AlarmHistoryItems"]) == 3
    rest = cloudwatch.describe_alarm_history(AlarmName="stage-5xx", MaxRecords=3, NextToken=first["NextToken"])
    assert len(rest["AlarmHistoryItems"]) == 1
    assert "NextToken" not in rest
    paged = cloudwatch.get_paginator("describe_alarm_history").paginate(
        AlarmName="stage-5xx", PaginationConfig={"PageSize": 1}
    )
    assert len(paged.build_full_result()["AlarmHistoryItems"]) == 4


def test_updating_an_alarm_keeps_its_state_and_history(cloudwatch: Any) -> None:
    cloudwatch.set_alarm_state(AlarmName="stage-5xx", StateValue="ALARM", StateReason="5XX errors")

    cloudwatch.put_metric_alarm(AlarmName="stage-5xx", **{**ALARM, "Threshold": 5.0})  # a deploy re-puts it

    [alarm] = cloudwatch.describe_alarms(AlarmNames=["stage-5xx"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["Threshold"]) == ("ALARM", 5.0)
    history = cloudwatch.describe_alarm_history(AlarmName="stage-5xx")["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in history] == ["Alarm updated from OK to ALARM"]


def test_out_of_range_page_sizes_and_unknown_tokens_are_refused(cloudwatch: Any) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as too_many:
        cloudwatch.describe_alarm_history(AlarmName="stage-5xx", MaxRecords=500)
    assert too_many.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as bad_token:
        cloudwatch.describe_alarm_history(AlarmName="stage-5xx", NextToken="not-ours")
    assert bad_token.value.response["Error"]["Code"] == "InvalidNextToken"
