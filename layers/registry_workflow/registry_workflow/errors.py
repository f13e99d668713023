"""Typed errors of the workflow: every failure a caller may handle has its own class."""

from __future__ import annotations


class RegistryWorkflowError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(RegistryWorkflowError):
    """The configuration is invalid; raised before any AWS call, naming the key and value."""

    def __init__(self, key: str, value: object, problem: str, source: str = "") -> None:
        self.key, self.value, self.problem, self.source = key, value, problem, source
        where = f" in {source}" if source else ""
        super().__init__(f"{key}={value!r}{where}: {problem}")


class MalformedEventError(RegistryWorkflowError):
    """An incoming event does not have the shape the handler relies on."""

    def __init__(self, event_id: str | None, problem: str) -> None:
        self.event_id = event_id
        super().__init__(f"malformed event {event_id or '<no id>'}: {problem}")


class AwsOperationError(RegistryWorkflowError):
    """An AWS call failed after botocore's retries; the event is retried or dead-lettered."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation, self.code = operation, code
        super().__init__(f"{operation} failed: {code}: {message}")


class MetricsUnavailableError(RegistryWorkflowError):
    """The version's metrics could not be found or read."""


class NotificationError(RegistryWorkflowError):
    """A notification channel refused the message after retries."""


class DeploymentConflictError(RegistryWorkflowError):
    """Another deployment holds the endpoint; the approval is queued instead."""
