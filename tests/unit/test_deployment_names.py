"""Model and endpoint-config names: at most 63 characters, SageMaker's pattern, deterministic, unique."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from registry_workflow.config import endpoint_name_for
from registry_workflow.deployment import (
    endpoint_config_name_for,
    is_valid_name,
    model_name_for,
    versioned_name,
)

SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# group names as config.py accepts them
groups = st.from_regex(r"^[a-zA-Z0-9](-?[a-zA-Z0-9]){0,62}$", fullmatch=True).filter(lambda g: len(g) <= 63)
versions = st.integers(min_value=1, max_value=10**6)


def test_short_names_read_plainly() -> None:
    assert model_name_for("rc-fraud-detection", 3) == "rc-fraud-detection-v3"
    assert endpoint_config_name_for("rc-fraud-detection-endpoint", 3) == "rc-fraud-detection-endpoint-v3"


def test_long_names_are_shortened_with_a_hash_and_keep_the_version() -> None:
    group = "a" * 40 + "-" + "b" * 22  # 63 characters
    name = model_name_for(group, 12)

    assert len(name) == 63
    assert name.endswith("-v12")
    assert name.startswith("a" * 40)
    assert is_valid_name(name)


@given(groups, versions)
def test_names_are_valid_and_deterministic(group: str, version: int) -> None:
    for name in (model_name_for(group, version), endpoint_config_name_for(endpoint_name_for(group), version)):
        assert len(name) <= 63
        assert SAGEMAKER_NAME.match(name), name
    assert model_name_for(group, version) == model_name_for(group, version)


@given(groups, versions, versions)
def test_names_are_unique_per_version(group: str, first: int, second: int) -> None:
    if first != second:
        assert versioned_name(group, first) != versioned_name(group, second)


def test_groups_sharing_a_long_prefix_get_different_names() -> None:
    prefix = "x" * 60
    assert versioned_name(prefix + "-one", 1) != versioned_name(prefix + "-two", 1)
