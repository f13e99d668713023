"""Model and endpoint-config names: ≤ 63 characters, SageMaker's pattern, deterministic, distinct per deployment."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from registry_workflow.config import endpoint_name_for
from registry_workflow.deployment import (
    distinct_name,
    endpoint_config_name_for,
    is_valid_name,
    model_name_for,
    package_created_of,
    production_variants,
)
from registry_workflow.policy import DeployPolicy

SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/rc-fraud-detection/3"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
CREATED = "2025-01-01T00:00:00.123000+00:00"
# team and project names as config.py accepts them (lowercase, single hyphens)
_part = st.from_regex(r"^[a-z0-9](-?[a-z0-9]){0,30}$", fullmatch=True)
teams = _part.filter(lambda t: len(t) <= 40)
versions = st.integers(min_value=1, max_value=10**6)


def model(group: str = "rc-fraud-detection", version: int = 3, **changes: str) -> str:
    identity = {"package_arn": ARN, "package_created": CREATED, "role_arn": ROLE} | changes
    return model_name_for(group, version, **identity)


def config(model_name: str, endpoint: str = "rc-fraud-detection-endpoint", version: int = 3, **policy: object) -> str:
    return endpoint_config_name_for(endpoint, version, production_variants(DeployPolicy(**policy), model_name))


def test_names_read_as_group_version_digest() -> None:
    assert re.fullmatch(r"rc-fraud-detection-v3-[0-9a-f]{8}", model())
    assert re.fullmatch(r"rc-fraud-detection-endpoint-v3-[0-9a-f]{8}", config(model()))


def test_what_makes_a_deployment_distinct_makes_a_new_name() -> None:
    # the package recreated under the same ARN (cleanup + provision), another role: another model
    assert model(package_created="2026-01-01T00:00:00+00:00") != model()
    assert model(role_arn=f"{ROLE}-2") != model()
    assert model(package_arn=ARN[:-1] + "4") != model()
    # another instance type, count or variant (or model): another endpoint config
    base = config(model())
    assert config(model(), instance_type="ml.m5.xlarge") != base
    assert config(model(), instance_count=3) != base
    assert config(model(), variant_name="Primary") != base
    assert config(model(role_arn=f"{ROLE}-2")) != base
    # what does not reach SageMaker's config leaves the name alone: a retry meets the same config
    assert config(model(), strategy="all-at-once", wait_seconds=0) == base == config(model())


def test_package_creation_time_is_one_string_whatever_the_timezone() -> None:
    utc = datetime(2025, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    tokyo = utc.astimezone(timezone(timedelta(hours=9)))

    assert package_created_of({"CreationTime": utc}) == package_created_of({"CreationTime": tokyo})
    assert package_created_of({"CreationTime": utc.replace(tzinfo=None)}) == package_created_of({"CreationTime": utc})
    assert package_created_of({}) == ""


@given(teams, _part, versions, st.text(max_size=30))
def test_names_are_valid_deterministic_and_start_with_the_team(
    team: str, project: str, version: int, salt: str
) -> None:
    group = f"{team}-{project}"
    if len(group) > 63:
        return
    endpoint = endpoint_name_for(group)
    model_name = model(group, version, role_arn=ROLE + salt)
    config_name = endpoint_config_name_for(endpoint, version, production_variants(DeployPolicy(), model_name))
    for name in (model_name, config_name):
        assert len(name) <= 63
        assert SAGEMAKER_NAME.match(name), name
        assert is_valid_name(name)
        assert name.startswith(f"{team}-"), name  # IAM scopes models and configs by `<team>-*`
    assert model(group, version, role_arn=ROLE + salt) == model_name


@given(st.text(alphabet="abc-", min_size=1, max_size=80).filter(lambda p: p[0] != "-"), versions, versions)
def test_versions_and_long_prefixes_never_share_a_name(prefix: str, first: int, second: int) -> None:
    if first != second:
        assert distinct_name(prefix, first) != distinct_name(prefix, second)
    assert distinct_name(prefix + "-one", first) != distinct_name(prefix + "-two", first)


def test_long_names_are_cut_in_the_prefix_and_keep_version_and_digest() -> None:
    group = "a" * 40 + "-" + "b" * 22  # 63 characters
    name = model(group, 12)

    assert len(name) == 63
    assert re.fullmatch(r"a{40}-b+-v12-[0-9a-f]{8}", name)
