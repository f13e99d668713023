"""Typed errors of the workflow: every failure a caller may handle has its own class."""

from __future__ import annotations

from collections.abc import Sequence


class RegistryWorkflowError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(RegistryWorkflowError):
    """The configuration is invalid; raised before any AWS call, naming the key (and file and line).

    One error, or all of a config's errors at once: `errors` lists every problem (itself when
    there is one), and `key`/`value`/`source`/`line` are the first's. Each reads
    `file:line: key: what is wrong (and what is allowed)`.
    """

    def __init__(
        self,
        key: str,
        value: object,
        problem: str,
        source: str = "",
        line: int | None = None,
        *,
        errors: Sequence[ConfigError] = (),
    ) -> None:
        self.key, self.value, self.problem, self.source, self.line = key, value, problem, source, line
        self.errors: list[ConfigError] = list(errors) or [self]
        super().__init__("\n".join(error.describe() for error in self.errors))

    @classmethod
    def of(cls, errors: Sequence[ConfigError]) -> ConfigError:
        """One error carrying all of `errors` (in order)."""
        first = errors[0]
        if len(errors) == 1:
            return first
        return cls(first.key, first.value, first.problem, first.source, first.line, errors=errors)

    @property
    def where(self) -> str:
        """`file:line`, `file`, or "" when the error is not about a file."""
        if self.source and self.line:
            return f"{self.source}:{self.line}"
        return self.source

    def describe(self) -> str:
        """This one problem as `file:line: key: problem`."""
        return f"{self.where}: {self.key}: {self.problem}" if self.where else f"{self.key}: {self.problem}"


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
