"""One place that makes boto3 clients: adaptive retries, shared per process, endpoint from the env.

boto3 itself honours `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`), which is how the CLI,
the handlers and the offline twin all reach the same stand-in without code of their own.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow.errors import AwsOperationError

#: SageMaker's control-plane limits are not published; adaptive mode backs off on throttling.
RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=16,
)

_lock = threading.Lock()


def client(service: str) -> Any:
    """A process-wide client for `service` (created on first use, never at import)."""
    return _cached_client(service)


@cache
def _cached_client(service: str) -> Any:
    with _lock:  # boto3 sessions are not thread-safe while they build a client
        return boto3.session.Session().client(service, config=RETRY_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests that switch endpoints or credentials call this)."""
    _cached_client.cache_clear()


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def is_not_found(exc: ClientError) -> bool:
    """SageMaker says "does not exist" / "not found" / "Could not find" inside a ValidationException."""
    message = error_message(exc).lower()
    return error_code(exc) in {"ResourceNotFound", "ValidationException", "ValidationError"} and any(
        phrase in message for phrase in ("does not exist", "not found", "could not find")
    )


def as_operation_error(operation: str, exc: ClientError | BotoCoreError) -> AwsOperationError:
    if isinstance(exc, ClientError):
        return AwsOperationError(operation, error_code(exc), error_message(exc))
    return AwsOperationError(operation, type(exc).__name__, str(exc))
