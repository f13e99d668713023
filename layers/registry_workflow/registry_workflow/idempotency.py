"""Run a domain function at most once per business key: Powertools Idempotency on DynamoDB.

EventBridge delivers duplicates, and a version's own updates re-emit events; handlers therefore
call `run_once(fn, key={...business key...}, ...)`. The persistence layer is built on first use
(never at import), from `$IDEMPOTENCY_TABLE` and the shared DynamoDB client, so tests set the
environment and moto first. A failed run deletes its record: the retry runs again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from registry_workflow import aws
from registry_workflow.errors import ConfigError
from registry_workflow.observability import logger

TABLE_ENV = "IDEMPOTENCY_TABLE"
#: how long a key is remembered; EventBridge retries for at most 24 h
EXPIRES_AFTER_SECONDS = 2 * 24 * 3600

DomainFunction = Callable[..., dict[str, Any]]


def run_once(
    function: DomainFunction, *, key: dict[str, Any], lambda_context: Any = None, **kwargs: Any
) -> dict[str, Any]:
    """`function(key=key, **kwargs)` unless a run with this key already completed (then its result)."""
    table = os.environ.get(TABLE_ENV, "").strip()
    if not table:
        raise ConfigError(TABLE_ENV, table, "must name the idempotency DynamoDB table")
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    wrapped, config = _idempotent(function, table, aws.client("dynamodb"))
    if lambda_context is not None:
        # lets an in-progress record expire with the invocation, so a timed-out run is retried
        config.register_lambda_context(lambda_context)
    try:
        return dict(wrapped(key=key, **kwargs))
    except IdempotencyAlreadyInProgressError:
        # a duplicate delivered while the first is still running (AWS runs them in parallel): the
        # first owns the work, and if it fails Lambda retries it (its record then expires with its
        # invocation), so this copy has nothing to do. Raising would only retry and alarm.
        logger.info("duplicate of an event being handled by another invocation", extra={"key": key})
        return {"action": "duplicate", "detail": "the same change is being handled by another invocation"}


@lru_cache(maxsize=16)
def _idempotent(function: DomainFunction, table: str, client: Any) -> tuple[DomainFunction, Any]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)
    config = IdempotencyConfig(expires_after_seconds=EXPIRES_AFTER_SECONDS, raise_on_no_idempotency_key=True)
    wrapped: DomainFunction = idempotent_function(
        function, data_keyword_argument="key", persistence_store=persistence, config=config
    )
    return wrapped, config
