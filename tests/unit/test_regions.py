"""Nothing assumes us-east-1: console links follow the ARN (or the caller's region), never a default."""

from __future__ import annotations

from conftest import REPO
from registry_workflow.notifications import Notification

PACKAGE = REPO / "layers" / "registry_workflow" / "registry_workflow"
#: where naming a region is the point: the twin's and the CLI's documented default, and the demo's
#: S3 bucket (CreateBucket takes no LocationConstraint in us-east-1)
ALLOWED = {PACKAGE / "local" / "template.py", PACKAGE / "local" / "twin.py", PACKAGE / "cli.py", PACKAGE / "demo.py"}


def test_a_console_link_is_in_the_region_of_the_version() -> None:
    arn = "arn:aws:sagemaker:ap-northeast-1:123456789012:model-package/rc-fraud-detection/1"
    link = Notification(kind="registered", group="rc-fraud-detection", package_arn=arn, status="s").console_url
    assert link.startswith("https://ap-northeast-1.console.aws.amazon.com/sagemaker/home?region=ap-northeast-1#")


def test_without_a_region_in_the_arn_the_callers_region_then_none() -> None:
    arn = "rc-fraud-detection/1"
    mine = Notification(kind="registered", group="g", package_arn=arn, status="s", region="eu-west-1")
    assert mine.console_url.startswith("https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#")
    unknown = Notification(kind="registered", group="g", package_arn=arn, status="s")
    assert unknown.console_url.startswith("https://console.aws.amazon.com/sagemaker/home#")


def test_a_console_link_is_in_the_console_of_the_versions_partition() -> None:
    china = "arn:aws-cn:sagemaker:cn-north-1:123456789012:model-package/rc-fraud-detection/1"
    gov = "arn:aws-us-gov:sagemaker:us-gov-west-1:123456789012:model-package/rc-fraud-detection/1"
    link = Notification(kind="registered", group="g", package_arn=china, status="s").console_url
    assert link.startswith("https://console.amazonaws.cn/sagemaker/home?region=cn-north-1#/model-packages/arn%3Aaws-cn")
    link = Notification(kind="registered", group="g", package_arn=gov, status="s").console_url
    assert link.startswith("https://console.amazonaws-us-gov.com/sagemaker/home?region=us-gov-west-1#")
    # no ARN region: the caller's region says the partition
    named = Notification(kind="registered", group="g", package_arn="g/1", status="s", region="cn-northwest-1")
    assert named.console_url.startswith("https://console.amazonaws.cn/sagemaker/home?region=cn-northwest-1#")


def test_the_console_domains_are_the_templates() -> None:
    from registry_workflow.local.template import read_template
    from registry_workflow.notifications import CONSOLE_DOMAINS

    mapping = read_template(REPO / "template.yaml")["Mappings"]["ConsoleDomain"]
    assert {partition: entry["Domain"] for partition, entry in mapping.items()} == CONSOLE_DOMAINS


def test_no_region_is_hard_coded_in_the_product() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 20  # the test looks where the code is
    offenders = [
        str(path.relative_to(REPO)) for path in sources if path not in ALLOWED and "us-east-1" in path.read_text()
    ]
    assert offenders == []
