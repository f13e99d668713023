"""What a deployment creates: names, production variants, alarms, `DeploymentConfig`, tags.

Pure: the same deployment always gets the same names and arguments (a retry meets "already
exists" for the same resource), a different one new names (nothing stale is reused).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry_workflow.ledger import Deployment
    from registry_workflow.policy import DeployPolicy

MAX_NAME = 63
MANAGED_BY = ("managed-by", "registry-workflow")
PACKAGE_ARN_TAG = "registry-workflow:model-package-arn"
VERSION_TAG = "registry-workflow:model-package-version"
STAGE_TAG = "registry-workflow:stage"

#: alarms created per endpoint when `deploy.create_alarms` is on (AWS/SageMaker metrics)
ALARM_5XX_SUFFIX = "-5xx"
ALARM_LATENCY_SUFFIX = "-latency"
#: any 5XX in two consecutive minutes; p99 model latency above one second (ModelLatency is in µs)
LATENCY_P99_THRESHOLD_US = 1_000_000.0

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
#: hex characters of the digest in model and endpoint-config names (32 bits: a collision needs
#: two different deployments of one version of one group, not a birthday among all names)
NAME_DIGEST_LENGTH = 8


# --- names ---------------------------------------------------------------------------------------


def model_name_for(group: str, version: int, package_arn: str, package_created: str, role_arn: str) -> str:
    """`<group>-v<N>-<digest>`: the digest of what the model is made of.

    The package ARN with its CreationTime (after a cleanup and a new provision, versions restart
    at 1 under the same ARNs: the creation time tells the new v1 from the old one) and the
    execution role the model runs as.
    """
    return distinct_name(group, version, package_arn, package_created, role_arn)


def endpoint_config_name_for(endpoint: str, version: int, variants: list[dict[str, Any]]) -> str:
    """`<endpoint>-v<N>-<digest>`: the digest of the config's `ProductionVariants` (model, variant, capacity)."""
    return distinct_name(endpoint, version, json.dumps(variants, sort_keys=True, separators=(",", ":")))


def distinct_name(prefix: str, version: int, *identity: str) -> str:
    """`{prefix}-v{version}-{digest}` within 63 characters; the digest covers prefix, version and identity.

    Deterministic: a retry of the same deployment meets "already exists" for the SAME resource and
    carries on; anything that makes a deployment distinct (package, role, capacity) makes a new
    name, so nothing stale is reused. A long prefix is cut, never its start: names begin with the
    group's (or endpoint's) leading characters, `<team>-` included for teams up to 46 characters.
    """
    suffix = f"-v{version}"
    digest = hashlib.sha256("\0".join((prefix, str(version), *identity)).encode()).hexdigest()[:NAME_DIGEST_LENGTH]
    keep = MAX_NAME - len(suffix) - len(digest) - 1
    return f"{prefix[:keep].rstrip('-')}{suffix}-{digest}"


def package_created_of(package: dict[str, Any]) -> str:
    """A version's `CreationTime` (DescribeModelPackage) as one stable string: part of its identity."""
    created = package.get("CreationTime")
    if isinstance(created, datetime):
        return (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return str(created or "")


def production_variants(policy: DeployPolicy, model_name: str) -> list[dict[str, Any]]:
    """`ProductionVariants` of an endpoint config (one variant, the same name every version)."""
    return [
        {
            "VariantName": policy.variant_name,
            "ModelName": model_name,
            "InitialInstanceCount": policy.instance_count,
            "InstanceType": policy.instance_type,
            "InitialVariantWeight": 1.0,
        }
    ]


def is_valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def alarm_names(endpoint: str) -> list[str]:
    """Names of the alarms created for an endpoint (prefixed by the endpoint: IAM scopes them so)."""
    return [f"{endpoint}{ALARM_5XX_SUFFIX}", f"{endpoint}{ALARM_LATENCY_SUFFIX}"]


def alarm_definitions(endpoint: str, variant: str) -> list[dict[str, Any]]:
    """PutMetricAlarm arguments of the per-endpoint rollback alarms (PutMetricAlarm is idempotent)."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    common = {
        "Namespace": "AWS/SageMaker",
        "Dimensions": dimensions,
        "Period": 60,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "TreatMissingData": "notBreaching",
        "Tags": [{"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]}],
    }
    five_xx, latency = alarm_names(endpoint)
    return [
        {
            **common,
            "AlarmName": five_xx,
            "AlarmDescription": f"5XX errors on {endpoint}/{variant}: rolls a deployment back",
            "MetricName": "Invocation5XXErrors",
            "Statistic": "Sum",
            "Threshold": 0.0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
        {
            **common,
            "AlarmName": latency,
            "AlarmDescription": f"p99 latency on {endpoint}/{variant} above 1 s: rolls a deployment back",
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
            "Threshold": LATENCY_P99_THRESHOLD_US,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    ]


def rollback_alarm_names(policy: DeployPolicy, endpoint: str) -> list[str]:
    """The named alarms plus the created ones, at most 10 (UpdateEndpoint's limit)."""
    names = list(policy.rollback_alarms)
    if policy.create_alarms:
        names += [n for n in alarm_names(endpoint) if n not in names]
    return names[:10]


def deployment_config(policy: DeployPolicy, alarms: list[str]) -> dict[str, Any]:
    """`DeploymentConfig` of UpdateEndpoint: blue/green with the policy's traffic shifting."""
    routing: dict[str, Any] = {"WaitIntervalInSeconds": policy.wait_seconds}
    if policy.strategy == "canary":
        routing |= {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": policy.traffic_percent},
        }
    elif policy.strategy == "linear":
        routing |= {
            "Type": "LINEAR",
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": policy.traffic_percent},
        }
    else:
        routing["Type"] = "ALL_AT_ONCE"
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "MaximumExecutionTimeoutInSeconds": policy.max_execution_timeout_seconds,
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms[:10]]}
    return config


def endpoint_tags(record: Deployment) -> list[dict[str, str]]:
    """The endpoint's tags once `record` is live on it (the stage too, for a staged project)."""
    tags = [
        {"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]},
        {"Key": PACKAGE_ARN_TAG, "Value": record.package_arn},
        {"Key": VERSION_TAG, "Value": str(record.version)},
    ]
    if record.stage:
        tags.append({"Key": STAGE_TAG, "Value": record.stage})
    return tags
