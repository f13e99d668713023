"""UpdateEndpoint's DeploymentConfig from a project's DeployPolicy, and the rollback alarms."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.validate import ParamValidator
from registry_workflow.deployment import alarm_definitions, deployment_config, rollback_alarm_names
from registry_workflow.policy import DeployPolicy

ENDPOINT = "rc-fraud-detection-endpoint"


def _assert_valid_for_botocore(config: dict) -> None:
    """Validate against botocore's own UpdateEndpoint input shape (types, enums, ranges)."""
    model = botocore.session.get_session().get_service_model("sagemaker").operation_model("UpdateEndpoint")
    params = {"EndpointName": ENDPOINT, "EndpointConfigName": f"{ENDPOINT}-v2", "DeploymentConfig": config}
    report = ParamValidator().validate(params, model.input_shape)
    assert not report.has_errors(), report.generate_report()


def test_all_at_once() -> None:
    config = deployment_config(DeployPolicy(strategy="all-at-once", wait_seconds=60), [])

    assert config == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60},
            "MaximumExecutionTimeoutInSeconds": 3600,
        }
    }
    _assert_valid_for_botocore(config)


def test_canary() -> None:
    policy = DeployPolicy(
        strategy="canary", instance_count=2, traffic_percent=10, wait_seconds=300, max_execution_timeout_seconds=7200
    )
    config = deployment_config(policy, ["a"])

    routing = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 300,
    }
    assert config["BlueGreenUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"] == 7200
    assert config["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "a"}]}
    _assert_valid_for_botocore(config)


def test_linear() -> None:
    config = deployment_config(
        DeployPolicy(strategy="linear", instance_count=4, traffic_percent=25, wait_seconds=0), []
    )

    routing = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "LINEAR",
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        "WaitIntervalInSeconds": 0,
    }
    assert "AutoRollbackConfiguration" not in config
    _assert_valid_for_botocore(config)


@pytest.mark.parametrize(
    ("named", "create", "expected"),
    [
        ([], False, []),
        ([], True, [f"{ENDPOINT}-5xx", f"{ENDPOINT}-latency"]),
        (["team"], True, ["team", f"{ENDPOINT}-5xx", f"{ENDPOINT}-latency"]),
        ([f"{ENDPOINT}-5xx"], True, [f"{ENDPOINT}-5xx", f"{ENDPOINT}-latency"]),
        ([f"a{i}" for i in range(10)], True, [f"a{i}" for i in range(10)]),
    ],
)
def test_rollback_alarms(named: list[str], create: bool, expected: list[str]) -> None:
    assert rollback_alarm_names(DeployPolicy(rollback_alarms=named, create_alarms=create), ENDPOINT) == expected


def test_created_alarms_watch_the_endpoint_variant() -> None:
    five_xx, latency = alarm_definitions(ENDPOINT, "AllTraffic")

    dims = {d["Name"]: d["Value"] for d in five_xx["Dimensions"]}
    assert dims == {"EndpointName": ENDPOINT, "VariantName": "AllTraffic"}
    assert (five_xx["Namespace"], five_xx["MetricName"]) == ("AWS/SageMaker", "Invocation5XXErrors")
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("ModelLatency", "p99")
    assert five_xx["AlarmName"].startswith(ENDPOINT)
