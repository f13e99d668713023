"""The seed's commands, pointed at the twin with --endpoint-url, work as written — in the seed's region too."""

from __future__ import annotations

import pytest
from twin_process import RunningTwin
from workflow_steps import wait_for

pytestmark = pytest.mark.e2e

SEED_REGION = "ap-northeast-1"
#: the seed's registration (SageMaker SDK `model.register(...)`) as the equivalent CLI call
INFERENCE_SPEC = (
    '{"Containers":[{"Image":"123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/image:tag"}],'
    '"SupportedContentTypes":["application/json"],"SupportedResponseMIMETypes":["application/json"],'
    '"SupportedRealtimeInferenceInstanceTypes":["ml.m5.large","ml.m5.xlarge"]}'
)
LIST_QUERY = "ModelPackageSummaryList[].{ARN:ModelPackageArn,Status:ModelApprovalStatus,Created:CreationTime}"


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
        INFERENCE_SPEC.replace(SEED_REGION, running_twin.region),
    )
    table = running_twin.aws_cli(
        "sagemaker",
        "list-model-packages",
        "--model-package-group-name",
        "rc-fraud-detection",
        "--region",
        running_twin.region,
        "--query",
        LIST_QUERY,
        "--output",
        "table",
    )
    assert "ListModelPackages" in table
    assert "model-package/rc-fraud-detection/1" in table

    running_twin.client("sagemaker").create_model_package_group(ModelPackageGroupName="algo-unplanned")
    drift = running_twin.cli("verify")
    assert drift.returncode == 1
    assert "algo-unplanned" in drift.stdout


@pytest.mark.parametrize("running_twin", [{"region": SEED_REGION}], indirect=True)
def test_the_seeds_commands_verbatim_in_its_region(running_twin: RunningTwin) -> None:
    """A new user with AWS_DEFAULT_REGION=ap-northeast-1 runs the seed's README as written."""
    twin = running_twin
    assert "3 created" in twin.cli("provision").stdout
    twin.aws_cli(
        "sagemaker",
        "create-model-package",
        "--model-package-group-name",
        "rc-fraud-detection",
        "--model-approval-status",
        "PendingManualApproval",
        "--model-package-description",
        "Fraud detection model v1.0",
        "--inference-specification",
        INFERENCE_SPEC,
    )
    # the seed's list command, word for word (with the twin's --endpoint-url)
    table = twin.aws_cli(
        "sagemaker",
        "list-model-packages",
        "--model-package-group-name",
        "rc-fraud-detection",
        "--region",
        "ap-northeast-1",
        "--query",
        LIST_QUERY,
        "--output",
        "table",
    )
    assert "arn:aws:sagemaker:ap-northeast-1:123456789012:model-package/rc-fraud-detection/1" in table
    # registered without metrics: the validator must find the version (in this region) and reject it
    arn = "arn:aws:sagemaker:ap-northeast-1:123456789012:model-package/rc-fraud-detection/1"
    sagemaker = twin.client("sagemaker")
    wait_for(lambda: sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Rejected")
    assert "metrics" in sagemaker.describe_model_package(ModelPackageName=arn)["ApprovalDescription"]

    # the seed's approve and reject commands, word for word
    twin.aws_cli("sagemaker", "update-model-package", "--model-package-arn", arn, "--model-approval-status", "Approved")
    twin.aws_cli(
        "sagemaker",
        "update-model-package",
        "--model-package-arn",
        arn,
        "--model-approval-status",
        "Rejected",
        "--approval-description",
        "Performance below threshold",
    )
    twin.idle()
    log = twin.log()
    assert {e["region"] for e in log["events"]} == {"ap-northeast-1"}
    failed = [o for o in log["outcomes"] if not o["ok"]]
    assert not failed, failed  # nothing dead-lettered: every handler found what it looked for
    dlq = twin.client("sqs").list_queues(QueueNamePrefix="Deployer")
    for url in dlq.get("QueueUrls", []):
        assert not twin.client("sqs").receive_message(QueueUrl=url).get("Messages")
