"""Load a version's metrics from the S3 object its `ModelMetrics` names.

Two shapes are understood:

* SageMaker's model-quality statistics JSON, e.g.
  ``{"binary_classification_metrics": {"auc": {"value": 0.9, "standard_deviation": 0.01}}}``;
  each metric is known by its short name (``auc``) and its qualified name
  (``binary_classification_metrics.auc``);
* a flat ``{"name": value}`` file.

A missing or unreadable object raises `MetricsUnavailableError` ("metrics not found: s3://…" or
"metrics not readable: s3://…"): the validator fails closed on it. Transient S3 errors
(throttling, 5xx) raise `AwsOperationError` instead, so the event is retried, not judged.

Hostile files are the version's fault and refused the same way, with the reason: larger than
`MAX_METRICS_BYTES` (by `ContentLength`, and never more than that is read), not UTF-8, not JSON,
nested too deeply for Python's recursive parser (a valid 10 KB document thousands of levels deep
raises `RecursionError`, not `JSONDecodeError`), integers beyond Python's 4,300-digit conversion
limit, or not a JSON object. `NaN`/`Infinity` and numbers too large for a float are not metrics:
they are left out, so a rule on them fails as "missing".
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.errors import MetricsUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: where SageMaker keeps the statistics of a version, in order of preference
METRICS_SECTIONS: tuple[tuple[str, str], ...] = (("ModelQuality", "Statistics"),)
#: a statistics file is small; anything larger is not one
MAX_METRICS_BYTES = 5 * 1024 * 1024

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
#: a property of the object itself (archived): the version's verdict is "not readable"
_NOT_READABLE = {"InvalidObjectState"}
# Anything else — AccessDenied, 403, KMS errors, throttling — is OUR fault (the validator's role,
# MetricsBucket, a key policy), not the version's: it raises AwsOperationError, so the event is
# retried and dead-lettered and an alarm fires, instead of rejecting good models.


def metrics_uri(model_metrics: dict[str, Any] | None) -> str | None:
    """The S3 URI of a version's statistics (`ModelMetrics.ModelQuality.Statistics.S3Uri`), if any."""
    for section, kind in METRICS_SECTIONS:
        uri = ((model_metrics or {}).get(section) or {}).get(kind, {}).get("S3Uri")
        if uri:
            return str(uri)
    return None


def load_metrics(model_metrics: dict[str, Any] | None, s3: S3Client | None = None) -> dict[str, float]:
    """Read and flatten the metrics a `ModelMetrics` block points at."""
    uri = metrics_uri(model_metrics)
    if uri is None:
        raise MetricsUnavailableError("metrics not found: the version has no ModelMetrics.ModelQuality.Statistics")
    return flatten_metrics(_read_json(uri, s3 or aws.client("s3")), uri)


def flatten_metrics(document: Any, source: str = "metrics") -> dict[str, float]:
    """`{"section": {"m": {"value": v}}}` and `{"m": v}` → `{"m": v, "section.m": v}`."""
    if not isinstance(document, dict):
        raise MetricsUnavailableError(f"metrics not readable: {source} is not a JSON object")
    flat: dict[str, float] = {}
    qualified: dict[str, float] = {}
    short: dict[str, list[float]] = {}
    has_sections = any(isinstance(v, dict) for v in document.values())
    for key, value in document.items():
        number = _number(value)
        if number is not None:
            # "version" is the statistics file's schema version, not a metric
            if not (has_sections and key == "version"):
                flat[key] = number
            continue
        if not isinstance(value, dict):
            continue
        for name, entry in value.items():
            metric = _number(entry.get("value")) if isinstance(entry, dict) else _number(entry)
            if metric is None:
                continue
            qualified[f"{key}.{name}"] = metric
            short.setdefault(name, []).append(metric)
    for name, values in short.items():
        # a short name that two sections disagree on is ambiguous: only the qualified names stay
        if name not in flat and len(set(values)) == 1:
            flat[name] = values[0]
    flat.update(qualified)
    if not flat:
        raise MetricsUnavailableError(f"metrics not readable: {source} holds no numeric metrics")
    return flat


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond a float's range
        return None
    return number if math.isfinite(number) else None


def _read_json(uri: str, s3: S3Client) -> Any:
    bucket, key = _split_s3_uri(uri)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        if int(response.get("ContentLength") or 0) > MAX_METRICS_BYTES:
            response["Body"].close()
            raise MetricsUnavailableError(_too_large(uri))
        body = response["Body"].read(MAX_METRICS_BYTES + 1)
    except ClientError as exc:
        code = aws.error_code(exc)
        if code in _NOT_FOUND:
            raise MetricsUnavailableError(f"metrics not found: {uri}") from exc
        if code in _NOT_READABLE:
            raise MetricsUnavailableError(f"metrics not readable: {uri} ({code})") from exc
        raise aws.as_operation_error("s3:GetObject", exc) from exc
    except BotoCoreError as exc:
        raise aws.as_operation_error("s3:GetObject", exc) from exc
    if len(body) > MAX_METRICS_BYTES:
        raise MetricsUnavailableError(_too_large(uri))
    return parse_metrics_json(body, uri)


def parse_metrics_json(body: bytes | str, source: str = "metrics") -> Any:
    """`json.loads`, with every way a hostile document can break it turned into a reason."""
    try:
        return json.loads(body)
    except RecursionError:
        reason = f"metrics not readable: {source} is nested too deeply to be a metrics file"
        raise MetricsUnavailableError(reason) from None
    except UnicodeDecodeError as exc:
        raise MetricsUnavailableError(f"metrics not readable: {source} is not UTF-8 JSON") from exc
    except json.JSONDecodeError as exc:
        raise MetricsUnavailableError(f"metrics not readable: {source} is not JSON") from exc
    except ValueError as exc:  # an integer of more than 4,300 digits (CPython's conversion limit)
        raise MetricsUnavailableError(f"metrics not readable: {source} holds a number too long to read") from exc


def _too_large(uri: str) -> str:
    return f"metrics not readable: {uri} is larger than {MAX_METRICS_BYTES} bytes"


def _split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise MetricsUnavailableError(f"metrics not readable: {uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise MetricsUnavailableError(f"metrics not readable: {uri!r} names no object")
    return bucket, key
