"""What one event did: `Outcome`, the chain of outcomes it led to (`next`), and how one is made from a decision."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry_workflow.deployment.decisions import Decision


@dataclass(frozen=True)
class Outcome:
    """What one event did; returned by the handlers (and logged)."""

    action: str  # started | queued | superseded | stale | already_live | duplicate | succeeded | failed | ...
    deployment_id: str | None = None
    version: int | None = None
    detail: str = ""
    next: Outcome | None = None
    #: the stage of a staged project it concerns (empty for a project's only stage)
    stage: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action,
            "deployment_id": self.deployment_id,
            "version": self.version,
        }
        if self.stage:
            data["stage"] = self.stage
        if self.detail:
            data["detail"] = self.detail
        if self.next is not None:
            data["next"] = self.next.as_dict()
        return data


def outcome_of(decision: Decision, action: str | None = None, **changes: Any) -> Outcome:
    """The outcome a decision comes to as it stands: its action (or `action`), record and why."""
    record = decision.record
    return Outcome(
        action or decision.action,
        record.deployment_id if record else None,
        record.version if record else None,
        decision.why,
        stage=(record.stage or "") if record else "",
        **changes,
    )


def then(outcome: Outcome, follow_up: Outcome | None) -> Outcome:
    """`outcome`, followed by `follow_up` when there is one."""
    return replace(outcome, next=follow_up) if follow_up is not None else outcome


def chained(outcomes: list[Outcome]) -> Outcome | None:
    """The outcomes in order, each the `next` of the one before (None for none)."""
    result: Outcome | None = None
    for outcome in reversed(outcomes):
        result = then(outcome, result)
    return result


def actions_of(outcome: Outcome | None) -> list[str]:
    """The actions of an outcome and the ones it led to (`next`), in order."""
    found: list[str] = []
    while outcome is not None:
        found.append(outcome.action)
        outcome = outcome.next
    return found
