"""moto's CloudWatch alarms, made to keep their history as AWS does (installed by `moto_fixes.apply`).

===============================  ===================================================================
moto (5.2.x)                     AWS (what this module makes moto do)
===============================  ===================================================================
DescribeAlarmHistory not         implemented for state changes (`HistoryItemType` StateUpdate):
  implemented                    one item per transition, newest first unless `ScanBy` says
                                 otherwise, `HistoryData` with `oldState`/`newState`, filtered by
                                 `AlarmName`, `StartDate`, `EndDate`, paged by `MaxRecords`
PutMetricAlarm on an existing    the alarm keeps its state and its history ("When you update an
  alarm resets it to OK and      existing alarm, its state is left unchanged")
  drops its history
===============================  ===================================================================

Not modelled: ConfigurationUpdate and Action items, composite alarms (`AlarmTypes`), and the
history of a deleted alarm (AWS keeps it; here it goes with the alarm).

https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
"""

from __future__ import annotations

import functools
import itertools
import json
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.exceptions import CloudWatchException, InvalidParameterValue
from moto.core.responses import ActionResult

#: DescribeAlarmHistory's MaxRecords: 1-100, 100 when not given
MAX_RECORDS = 100


class InvalidNextToken(CloudWatchException):
    code = "InvalidNextToken"


def apply() -> None:
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse

    original_put = CloudWatchBackend.put_metric_alarm

    @functools.wraps(original_put)
    def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        before = self.alarms.get(name)
        alarm = original_put(self, name, *args, **kwargs)
        if before is not None and before is not alarm:
            alarm.history = before.history
            alarm.state_reason, alarm.state_reason_data = before.state_reason, before.state_reason_data
            alarm.state_value, alarm.state_updated_timestamp = before.state_value, before.state_updated_timestamp
        return alarm

    CloudWatchBackend.put_metric_alarm = put_metric_alarm  # type: ignore[method-assign]
    CloudWatchResponse.describe_alarm_history = _describe_alarm_history  # type: ignore[attr-defined]


def state_updates(alarm: Any) -> list[dict[str, Any]]:
    """An alarm's state transitions in AWS's AlarmHistoryItem shape, oldest first.

    moto keeps, at each change, the state it left (reason, data, value, since when); the
    transition's time is when the next state began.
    """
    states = [(reason, value, since) for _, reason, _data, value, since in alarm.history]
    states.append((alarm.state_reason, alarm.state_value, alarm.state_updated_timestamp))
    items = []
    for (old_reason, old_value, _), (new_reason, new_value, at) in itertools.pairwise(states):
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old_value, "stateReason": old_reason},
            "newState": {"stateValue": new_value, "stateReason": new_reason},
        }
        items.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": "MetricAlarm",
                "Timestamp": _aware(at),
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old_value} to {new_value}",
                "HistoryData": json.dumps(data),
            }
        )
    return items


def _describe_alarm_history(self: Any) -> Any:

    name, kind = self._get_param("AlarmName"), self._get_param("HistoryItemType")
    start, end = self._get_param("StartDate"), self._get_param("EndDate")
    limit = int(self._get_param("MaxRecords") or MAX_RECORDS)
    if not 1 <= limit <= MAX_RECORDS:
        raise InvalidParameterValue(f"The value {limit} for parameter MaxRecords is not valid: it must be 1-100.")
    token = self._get_param("NextToken") or "0"
    if not token.isdigit():
        raise InvalidNextToken("The service returned an invalid NextToken.")
    offset = int(token)
    alarms = self.cloudwatch_backend.alarms
    chosen = [alarms[name]] if name in alarms else [] if name else list(alarms.values())
    items = [] if kind not in (None, "StateUpdate") else [i for a in chosen for i in state_updates(a)]
    items = [
        i
        for i in items
        if (start is None or i["Timestamp"] >= _aware(start)) and (end is None or i["Timestamp"] <= _aware(end))
    ]
    items.sort(key=lambda i: i["Timestamp"], reverse=self._get_param("ScanBy") != "TimestampAscending")
    page = items[offset : offset + limit]
    result: dict[str, Any] = {"AlarmHistoryItems": page}
    if offset + limit < len(items):
        result["NextToken"] = str(offset + limit)
    return ActionResult(result)


def _aware(moment: datetime) -> datetime:
    """moto's times are naive UTC; a request's are aware: compare them as aware UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
