"""Policy evaluation, metric flattening and the stamp format: pure, no AWS."""

from __future__ import annotations

import re

import pytest
from registry_workflow.errors import MetricsUnavailableError
from registry_workflow.metrics import flatten_metrics, metrics_uri
from registry_workflow.policy import ValidationPolicy
from registry_workflow.validation import (
    DESCRIPTION_MAX,
    FAILED_RULES_KEY,
    METADATA_VALUE_MAX,
    METRICS_KEY,
    POLICY_KEY,
    STATUS_KEY,
    Champion,
    evaluate,
    metadata_value,
    missing_metrics_result,
    stamped_metrics,
)

# botocore's pattern for CustomerMetadataProperties values ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)
SAGEMAKER_VALUE = re.compile(r"^[\w .:/=+\-@]*$")

STATISTICS = {
    "version": 0.0,
    "binary_classification_metrics": {
        "auc": {"value": 0.91, "standard_deviation": 0.01},
        "f1": {"value": 0.84, "standard_deviation": 0.02},
        "confusion_matrix": {"0": {"0": 10, "1": 2}},
    },
    "regression_metrics": {"mse": {"value": 2.5, "standard_deviation": 0.1}},
}


def test_statistics_json_gives_short_and_qualified_names() -> None:
    flat = flatten_metrics(STATISTICS)
    assert flat["auc"] == flat["binary_classification_metrics.auc"] == 0.91
    assert flat["mse"] == flat["regression_metrics.mse"] == 2.5
    assert "version" not in flat
    assert "confusion_matrix" not in flat


def test_flat_file_is_read_as_is() -> None:
    assert flatten_metrics({"auc": 0.9, "rmse": 3, "note": "x", "ok": True}) == {"auc": 0.9, "rmse": 3.0}


def test_ambiguous_short_name_keeps_only_qualified_names() -> None:
    flat = flatten_metrics({"a": {"acc": {"value": 0.9}}, "b": {"acc": {"value": 0.7}}})
    assert "acc" not in flat
    assert flat["a.acc"] == 0.9
    assert flat["b.acc"] == 0.7


@pytest.mark.parametrize("document", [[], "text", {"only": "strings"}, {}])
def test_documents_without_metrics_are_unreadable(document: object) -> None:
    with pytest.raises(MetricsUnavailableError, match="not readable"):
        flatten_metrics(document)


def test_metrics_uri_comes_from_model_quality_statistics() -> None:
    uri = "s3://bucket/key.json"
    assert metrics_uri({"ModelQuality": {"Statistics": {"S3Uri": uri}}}) == uri
    assert metrics_uri({"ModelQuality": {}}) is None
    assert metrics_uri(None) is None


def test_min_and_max_rules_say_what_failed() -> None:
    policy = ValidationPolicy(min={"auc": 0.8}, max={"mse": 2.0})
    result = evaluate({"auc": 0.71, "mse": 2.5}, policy, "digest")
    assert not result.passed
    assert result.failed_rules == ("auc 0.71 < min 0.8", "mse 2.5 > max 2")


def test_passing_metrics_pass_with_every_check_recorded() -> None:
    policy = ValidationPolicy(min={"auc": 0.8}, max={"mse": 2.0})
    result = evaluate({"auc": 0.8, "mse": 2.0}, policy, "digest")
    assert result.passed
    assert result.failed_rules == ()
    assert [(c.metric, c.ok) for c in result.checks] == [("auc", True), ("mse", True)]


def test_a_metric_the_policy_needs_but_the_file_lacks_fails() -> None:
    result = evaluate({"f1": 0.9}, ValidationPolicy(min={"auc": 0.8}), "digest")
    assert result.failed_rules == ("auc missing (min 0.8)",)


def test_regression_higher_is_better() -> None:
    policy = ValidationPolicy(max_regression={"auc": 0.02})
    champion = Champion(3, "arn:champion", {"auc": 0.95})
    assert evaluate({"auc": 0.94}, policy, "d", champion).passed
    failed = evaluate({"auc": 0.91}, policy, "d", champion)
    assert not failed.passed
    assert "auc 0.91 dropped 0.04 vs champion v3 (0.95)" in failed.failed_rules[0]
    assert failed.champion_version == 3


def test_regression_lower_is_better_for_metrics_with_a_max() -> None:
    policy = ValidationPolicy(max={"mse": 10.0}, max_regression={"mse": 0.5})
    champion = Champion(2, "arn:champion", {"mse": 2.0})
    assert evaluate({"mse": 1.0}, policy, "d", champion).passed  # better is fine
    assert not evaluate({"mse": 2.6}, policy, "d", champion).passed


def test_regression_is_skipped_without_a_champion_or_its_metric() -> None:
    policy = ValidationPolicy(max_regression={"auc": 0.0})
    assert evaluate({"auc": 0.1}, policy, "d", None).passed
    assert evaluate({"auc": 0.1}, policy, "d", Champion(1, "arn:c", {"f1": 0.9})).passed


def test_missing_metrics_fail_closed_unless_policy_passes_them() -> None:
    problem = "metrics not found: s3://bucket/key.json"
    closed = missing_metrics_result(problem, ValidationPolicy(), "d")
    assert not closed.passed
    assert closed.failed_rules == (problem,)
    assert problem in closed.description()
    assert missing_metrics_result(problem, ValidationPolicy(on_missing_metrics="pass"), "d").passed


def test_stamp_is_valid_sagemaker_metadata() -> None:
    many = {f"metric_{i}": 0.1 for i in range(60)}
    policy = ValidationPolicy(min={name: 0.5 for name in many})
    result = evaluate(many, policy, "abc123")
    stamp = result.metadata()
    assert stamp[STATUS_KEY] == "failed"
    assert stamp[POLICY_KEY] == "abc123"
    for key, value in stamp.items():
        assert 1 <= len(key) <= 128
        assert 1 <= len(value) <= METADATA_VALUE_MAX, key
        assert SAGEMAKER_VALUE.match(value), (key, value)
    assert len(result.description()) <= DESCRIPTION_MAX


def test_failed_rules_are_translated_into_allowed_characters() -> None:
    result = evaluate({"auc": 0.71}, ValidationPolicy(min={"auc": 0.8}), "d")
    assert result.metadata()[FAILED_RULES_KEY] == "auc 0.71 lt min 0.8"
    assert metadata_value("a <= b; c > d (e)") == "a le b c gt d e"


def test_stamped_metrics_round_trip() -> None:
    result = evaluate({"auc": 0.91, "f1": 0.84}, ValidationPolicy(min={"auc": 0.8, "f1": 0.5}), "d")
    stamp = result.metadata()
    assert stamp[METRICS_KEY] == "auc=0.91 f1=0.84"
    assert stamped_metrics(stamp) == {"auc": 0.91, "f1": 0.84}
    assert stamped_metrics({METRICS_KEY: "auc=0.9 f1=0.8..."}) == {"auc": 0.9}
