"""The calls that carry a deployment decision out: SageMaker (and CloudWatch for alarms).

Every call maps SageMaker's refusals to typed errors the service decides on: `EndpointBusy`
("Cannot update in-progress endpoint"), `AlreadyExists` (a create that already happened: a
retry), `DeploymentRefused` (for good: bad config, failed endpoint, limits); anything else
escapes as an `AwsOperationError` (the event is retried).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.deployment.resources import (
    MANAGED_BY,
    alarm_definitions,
    deployment_config,
    endpoint_tags,
    production_variants,
)
from registry_workflow.errors import AwsOperationError
from registry_workflow.ledger import Deployment
from registry_workflow.observability import logger, metrics
from registry_workflow.policy import DeployPolicy


class Refusal(AwsOperationError):
    """SageMaker answered "no" to a call (ValidationException, a limit).

    `str()` is "<operation>: <message>", the reason the ledger records.
    """

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(operation, code, message)
        self.args = (f"{operation}: {message}",)


class EndpointBusy(Refusal):
    """SageMaker said "Cannot update in-progress endpoint": another update (or ours, accepted) is running."""


class DeploymentRefused(Refusal):
    """SageMaker refused the deployment for good (bad config, failed endpoint, limits)."""


class AlreadyExists(Refusal):
    """A create that already happened (a retry after a crash)."""


class Endpoints:
    """SageMaker endpoints, models and versions as the deployment service uses them."""

    def __init__(self, sagemaker: Any | None = None, cloudwatch: Any | None = None) -> None:
        self.sagemaker = sagemaker or aws.client("sagemaker")
        self._cloudwatch = cloudwatch

    @property
    def cloudwatch(self) -> Any:
        if self._cloudwatch is None:
            self._cloudwatch = aws.client("cloudwatch")
        return self._cloudwatch

    @property
    def region(self) -> str:
        return str(self.sagemaker.meta.region_name)

    # --- reads ------------------------------------------------------------------------------------

    def describe_endpoint(self, endpoint: str) -> dict[str, Any] | None:
        try:
            return dict(self.sagemaker.describe_endpoint(EndpointName=endpoint))
        except ClientError as exc:
            if aws.is_not_found(exc):
                return None
            raise aws.as_operation_error("DescribeEndpoint", exc) from exc
        except BotoCoreError as exc:
            raise aws.as_operation_error("DescribeEndpoint", exc) from exc

    def describe_package(self, arn: str) -> dict[str, Any]:
        """The version now; a deleted one (no approval, no status) is never deployable."""
        try:
            return dict(call("DescribeModelPackage", self.sagemaker.describe_model_package, ModelPackageName=arn))
        except DeploymentRefused as exc:
            # a ValidationException on a read: "does not exist" means deleted after the event;
            # anything else escapes typed (found by fuzzing: it used to escape as a refusal)
            if any(phrase in str(exc).lower() for phrase in ("does not exist", "not found", "could not find")):
                return {"ModelPackageArn": arn, "ModelPackageStatus": "Deleted"}
            raise AwsOperationError("DescribeModelPackage", "ValidationException", str(exc)) from None

    def alarms_in_alarm(self, names: list[str]) -> list[str]:
        """Which of these CloudWatch alarms are in ALARM now (unknown names are not)."""
        if not names:
            return []
        answer = call("cloudwatch:DescribeAlarms", self.cloudwatch.describe_alarms, AlarmNames=names[:100])
        return sorted(a["AlarmName"] for a in answer.get("MetricAlarms", []) if a.get("StateValue") == "ALARM")

    def alarms_in_alarm_since(self, names: list[str], since: datetime | None) -> list[str]:
        """Which of these alarms are in ALARM now, or went into ALARM at any time since `since`.

        One DescribeAlarms, then DescribeAlarmHistory (state changes from `since`) for each alarm
        not in ALARM now, stopping at its first change to ALARM: an alarm that fired and cleared
        counts. CloudWatch keeps alarm history longer than the longest soak (a week).
        """
        alarming = set(self.alarms_in_alarm(names))
        if since is not None:
            alarming |= {name for name in names[:100] if name not in alarming and self._went_to_alarm(name, since)}
        return sorted(alarming)

    def _went_to_alarm(self, name: str, since: datetime) -> bool:
        request: dict[str, Any] = {"AlarmName": name, "HistoryItemType": "StateUpdate", "StartDate": since}
        while True:
            page = call("cloudwatch:DescribeAlarmHistory", self.cloudwatch.describe_alarm_history, **request)
            if any(_new_state(item) == "ALARM" for item in page.get("AlarmHistoryItems", [])):
                return True
            if not page.get("NextToken"):
                return False
            request["NextToken"] = page["NextToken"]

    # --- writes -----------------------------------------------------------------------------------

    def create_model_and_config(self, record: Deployment, policy: DeployPolicy, role: str) -> None:
        """The model and the endpoint config of `record`; either existing already (a retry) counts as made."""
        tags = [{"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]}]
        create(
            "CreateModel",
            self.sagemaker.create_model,
            ModelName=record.model_name,
            Containers=[{"ModelPackageName": record.package_arn}],
            ExecutionRoleArn=role,
            Tags=tags,
        )
        create(
            "CreateEndpointConfig",
            self.sagemaker.create_endpoint_config,
            EndpointConfigName=record.endpoint_config_name,
            ProductionVariants=production_variants(policy, record.model_name),
            Tags=tags,
        )

    def create_endpoint(self, record: Deployment) -> None:
        create(
            "CreateEndpoint",
            self.sagemaker.create_endpoint,
            EndpointName=record.endpoint,
            EndpointConfigName=record.endpoint_config_name,
            Tags=endpoint_tags(record),
        )

    def put_alarms(self, endpoint: str, variant: str) -> None:
        """The per-endpoint rollback alarms (PutMetricAlarm is idempotent)."""
        for alarm in alarm_definitions(endpoint, variant):
            call("cloudwatch:PutMetricAlarm", self.cloudwatch.put_metric_alarm, **alarm)

    def update_endpoint(self, record: Deployment, policy: DeployPolicy, alarms: list[str]) -> None:
        call(
            "UpdateEndpoint",
            self.sagemaker.update_endpoint,
            EndpointName=record.endpoint,
            EndpointConfigName=record.endpoint_config_name,
            DeploymentConfig=deployment_config(policy, alarms),
        )

    def adopt(self, description: dict[str, Any]) -> None:
        """Tag an endpoint none of our deployments went live on `managed-by` (AddTags is idempotent).

        Done where the deployer first sees it, before queueing or starting: the tracker's rule
        then sees the event that ends its busy state, and every later start (by the tracker, on
        that event, or by the sweep) finds it tagged. The version tags follow on success.
        """
        arn = description.get("EndpointArn")
        if not arn:
            return
        call("AddTags", self.sagemaker.add_tags, ResourceArn=arn, Tags=[{"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]}])
        logger.info("endpoint adopted", extra={"endpoint": description.get("EndpointName"), "endpoint_arn": arn})

    def tag_live(self, description: dict[str, Any], record: Deployment) -> None:
        """Name the live version in the endpoint's tags; best effort (the ledger is the record)."""
        arn = description.get("EndpointArn")
        if not arn:
            return
        try:
            call("AddTags", self.sagemaker.add_tags, ResourceArn=arn, Tags=endpoint_tags(record))
        except AwsOperationError as exc:
            metrics.add_metric(name="EndpointTagFailures", unit="Count", value=1)
            logger.warning(
                "endpoint tags not updated",
                extra={"endpoint": record.endpoint, "deployment_id": record.deployment_id, "reason": str(exc)},
            )

    def delete_endpoint(self, endpoint: str) -> None:
        """DeleteEndpoint; one already gone counts as deleted (a retry)."""
        try:
            call("DeleteEndpoint", self.sagemaker.delete_endpoint, EndpointName=endpoint)
        except DeploymentRefused as exc:
            if not any(phrase in str(exc).lower() for phrase in ("could not find", "does not exist", "not found")):
                raise

    def delete_alarms(self, names: list[str]) -> None:
        """DeleteAlarms (names that do not exist are ignored by CloudWatch)."""
        call("cloudwatch:DeleteAlarms", self.cloudwatch.delete_alarms, AlarmNames=names)

    def set_lifecycle(self, arn: str, stage: str, status: str, description: str) -> None:
        """The version's `ModelLifeCycle` (where it is in a staged project's stages, and why)."""
        call(
            "UpdateModelPackage",
            self.sagemaker.update_model_package,
            ModelPackageArn=arn,
            ModelLifeCycle={"Stage": stage, "StageStatus": status, "StageDescription": description[:1024]},
        )


def _new_state(item: dict[str, Any]) -> str | None:
    """The state an alarm history item moved to: `HistoryData.newState.stateValue`, else its summary's last word."""
    try:
        data = json.loads(item.get("HistoryData") or "{}")
        state = data["newState"]["stateValue"]
        if isinstance(state, str):
            return state
    except (ValueError, KeyError, TypeError):
        pass
    summary = str(item.get("HistorySummary") or "")  # "Alarm updated from OK to ALARM"
    return summary.rsplit(" ", 1)[-1] if " to " in summary else None


def create(operation: str, method: Any, **kwargs: Any) -> None:
    """A create that already happened (a retry after a crash) counts as done."""
    try:
        call(operation, method, **kwargs)
    except AlreadyExists:
        logger.info("already exists: reusing it", extra={"operation": operation})


def call(operation: str, method: Any, **kwargs: Any) -> Any:
    """One AWS call, SageMaker's refusals typed (busy, exists, refused), anything else an `AwsOperationError`."""
    try:
        return method(**kwargs)
    except ClientError as exc:
        code, message = aws.error_code(exc), aws.error_message(exc)
        lowered = message.lower()
        if code in {"ValidationException", "ValidationError"}:
            if "already exist" in lowered:
                raise AlreadyExists(operation, code, message) from None
            if "in-progress" in lowered or "in progress" in lowered:
                raise EndpointBusy(operation, code, message) from None
            raise DeploymentRefused(operation, code, message) from None
        if code == "ResourceLimitExceeded":
            raise DeploymentRefused(operation, code, message) from None
        raise aws.as_operation_error(operation, exc) from exc
    except BotoCoreError as exc:
        raise aws.as_operation_error(operation, exc) from exc
