"""The seed's commands, pointed at the twin with --endpoint-url, work as written."""

from __future__ import annotations

import pytest
from twin_process import RunningTwin

pytestmark = pytest.mark.e2e


def test_provision_verify_and_the_seed_table(running_twin: RunningTwin) -> None:
    assert "3 created" in running_twin.cli("provision").stdout
    assert "0 created, 3 already present" in running_twin.cli("provision").stdout
    assert running_twin.cli("verify").returncode == 0

    running_twin.aws_cli(
        "sagemaker",
        "create-model-package",
        "--model-package-group-name",
        "rc-fraud-detection",
        "--model-approval-status",
        "PendingManualApproval",
        "--inference-specification",
        '{"Containers":[{"Image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1"}],'
        '"SupportedContentTypes":["application/json"],"SupportedResponseMIMETypes":["application/json"]}',
    )
    table = running_twin.aws_cli(
        "sagemaker",
        "list-model-packages",
        "--model-package-group-name",
        "rc-fraud-detection",
        "--region",
        "us-east-1",
        "--query",
        "ModelPackageSummaryList[].{ARN:ModelPackageArn,Status:ModelApprovalStatus,Created:CreationTime}",
        "--output",
        "table",
    )
    assert "ListModelPackages" in table
    assert "model-package/rc-fraud-detection/1" in table

    running_twin.client("sagemaker").create_model_package_group(ModelPackageGroupName="algo-unplanned")
    drift = running_twin.cli("verify")
    assert drift.returncode == 1
    assert "algo-unplanned" in drift.stdout
