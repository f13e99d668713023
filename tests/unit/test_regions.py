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


def test_no_region_is_hard_coded_in_the_product() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 20  # the test looks where the code is
    offenders = [
        str(path.relative_to(REPO)) for path in sources if path not in ALLOWED and "us-east-1" in path.read_text()
    ]
    assert offenders == []
