"""The time an invocation has left, carried from the handler to whatever may wait (retries, sweeps).

Lambda ends an invocation at its timeout, whatever it is doing: a Slack retry that sleeps on
`Retry-After` past it loses the rest of the run. `Deadline.from_context` turns the Lambda
context's `get_remaining_time_in_millis()` into a point on a monotonic clock; code about to wait
asks `allows(seconds)` first. The clock and the sleep are injectable, so tests never sleep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: time kept back for the work after a wait (ledger writes, the log line, Powertools' metrics flush)
DEFAULT_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class Deadline:
    """A point on `clock` after which the invocation is gone (`None`: no limit, e.g. the CLI)."""

    at: float | None = None
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @classmethod
    def from_context(
        cls,
        context: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Deadline:
        """From a Lambda context (`get_remaining_time_in_millis`); unlimited without one."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(remaining):
            return cls(None, clock, sleep)
        return cls(clock() + remaining() / 1000.0, clock, sleep)

    def remaining(self) -> float:
        """Seconds left (infinite without a limit, never negative)."""
        return math.inf if self.at is None else max(0.0, self.at - self.clock())

    def allows(self, seconds: float, margin: float = DEFAULT_MARGIN_SECONDS) -> bool:
        """Whether `seconds` more (a wait plus the attempt after it) still leave `margin` before the end."""
        return self.remaining() - margin >= seconds


UNLIMITED = Deadline()
