"""One place that makes boto3 clients: adaptive retries sized to fit a Lambda run, shared per process.

boto3 itself honours `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`), which is how the CLI,
the handlers and the offline twin all reach the same stand-in without code of their own.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow.errors import AwsOperationError

#: total attempts per call (the first and three retries)
MAX_ATTEMPTS = 4
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 8
#: botocore's backoff before retry k (1-based) is at most min(2 ** (k - 1), 20) seconds (throttling scale)
WORST_CASE_BACKOFF_SECONDS = sum(min(2 ** (k - 1), 20) for k in range(1, MAX_ATTEMPTS))
#: the longest one call can block: 4 x (2 + 8) + (1 + 2 + 4) = 47 s, inside the deployer's and
#: tracker's 60 s timeout with room for the rest of the run (the validator's and notifier's are longer)
WORST_CASE_CALL_SECONDS = MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + WORST_CASE_BACKOFF_SECONDS

#: SageMaker's control-plane limits are not published; adaptive mode backs off on throttling and
#: rate-limits the client. Attempts and timeouts are sized so one call's worst case fits a 60 s
#: function (WORST_CASE_CALL_SECONDS); the former `max_attempts: 10` (ten retries: 11 attempts) with
#: 5 s / 30 s timeouts could block 11 x 35 s + 131 s of backoff, about 8.6 minutes.
RETRY_CONFIG = Config(
    # total_max_attempts counts the first attempt; botocore's max_attempts counts retries only
    retries={"mode": "adaptive", "total_max_attempts": MAX_ATTEMPTS},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    max_pool_connections=16,
)

#: the operator CLI's clients: a person waits at a terminal, so an unreachable endpoint fails in
#: seconds (two attempts, 2 s to connect, at most 1 s of backoff) instead of the handlers' 47 s;
#: the read timeout stays generous for slow list calls on large registries
CLI_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 2},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=30,
)

_lock = threading.Lock()
#: region_name / profile_name of the session clients are made from (the CLI's --region, --profile)
_session_options: dict[str, str] = {}
_client_config: Config = RETRY_CONFIG
#: the one boto3 Session of this process, made with the first client: a Session loads botocore's
#: data (endpoints, partitions, retry modes…), resolves region and credentials and builds an SSL
#: context, once; one per client repeated all of it for each service a handler uses
_session: boto3.session.Session | None = None
#: service → its client, made from `_session`
_clients: dict[str, Any] = {}


def configure(*, region: str | None = None, profile: str | None = None, config: Config | None = None) -> None:
    """Region, profile and client config of this process's clients; the CLI calls it before any client.

    The handlers never call it: they keep RETRY_CONFIG and the environment's region. The options,
    the session and the clients change in one step: no client is ever made from a mix of old and
    new settings.
    """
    global _client_config, _session
    with _lock:
        _session_options.clear()
        _session_options.update({k: v for k, v in (("region_name", region), ("profile_name", profile)) if v})
        _client_config = config or RETRY_CONFIG
        _session = None
        _clients.clear()


def client(service: str) -> Any:
    """A process-wide client for `service` (created on first use, never at import)."""
    global _session
    with _lock:  # boto3 sessions are not thread-safe while they build a client
        made = _clients.get(service)
        if made is None:
            if _session is None:
                _session = boto3.session.Session(**_session_options)  # type: ignore[arg-type]
            made = _clients[service] = _session.client(service, config=_client_config)  # type: ignore[call-overload]
        return made


def clients_made() -> int:
    """How many services have a client now (the bench checks no handler made one it did not hook)."""
    with _lock:
        return len(_clients)


def reset_clients() -> None:
    """Forget cached clients and the session they came from (tests that switch endpoints or credentials)."""
    global _session
    with _lock:
        _session = None
        _clients.clear()


def pause_before_retry(attempt: int) -> None:
    """A short random wait before trying a lost race again (attempt 0, 1, ...): racers spread out."""
    time.sleep(random.uniform(0.005, 0.05) * min(attempt + 1, 5))  # noqa: S311 - jitter, not crypto


def cancellation_reasons(exc: ClientError) -> list[str | None]:
    """The per-item codes of a cancelled DynamoDB transaction (DynamoDB says "None" where an item was fine)."""
    return [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]


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
