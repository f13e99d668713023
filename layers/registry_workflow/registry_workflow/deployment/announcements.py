"""What the deployment service tells people: one notification per step, never at the cost of the step.

`Announcer` turns a deployment record (or, for a refused promotion, a version) into a
`notifications.Notification` and sends it through the project's channels; a channel failure is
logged and counted (``NotificationFailures``), never raised. `notifications` is imported on first
use only: the Lambdas import this package at init.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from registry_workflow.observability import logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from registry_workflow.config import Project
    from registry_workflow.deployment.service import DeploymentService
    from registry_workflow.ledger import Deployment

#: the status line people read (the notification's title is "<group> v<n>: <status>")
_STATUS_TEXT = {
    "deploy_started": "deploying",
    "deploy_succeeded": "live",
    "deploy_failed": "deployment failed",
    "rolled_back": "rolling back",
    "superseded": "superseded",
    "queued": "queued",
}


def actor_of(package: dict[str, Any]) -> str | None:
    """Who approved or rejected the version (`notifications.actor_of`)."""
    from registry_workflow.notifications import actor_of

    return actor_of(package)


class Announcer:
    """Sends the service's notifications: the region and the invocation's deadline are the service's."""

    def __init__(self, service: DeploymentService, notifier: Callable[..., None] | None = None) -> None:
        self._service = service
        #: replaces `notifications.notify` (tests)
        self._notifier = notifier

    def notify(
        self,
        kind: str,
        project: Project,
        record: Deployment,
        *,
        reason: str | None = None,
        actor: str | None = None,
        status: str | None = None,
    ) -> None:
        """Tell people; a channel failure is logged and counted, never undoes a recorded deployment."""
        self._send(
            project,
            kind=kind,
            group=record.group,
            package_arn=record.package_arn,
            status=status or _STATUS_TEXT.get(kind, str(record.status)),
            version=record.version,
            actor=actor or record.approver,
            reason=reason or record.failure_reason,
            endpoint=record.endpoint,
            stage=record.stage or "",
        )

    def notify_version(
        self, project: Project, package: dict[str, Any], kind: str, status: str, reason: str, stage: str
    ) -> None:
        """Tell people about a version no deployment record stands for (a refused promotion)."""
        self._send(
            project,
            kind=kind,
            group=project.group_name,
            package_arn=package["ModelPackageArn"],
            status=status,
            version=int(package.get("ModelPackageVersion") or 0),
            actor=actor_of(package),
            reason=reason,
            endpoint=None,
            stage=stage,
        )

    def _send(self, project: Project, **fields: Any) -> None:
        from registry_workflow.notifications import Notification, notify

        notification = Notification(region=self._service.endpoints.region, **fields)
        try:
            (self._notifier or notify)(notification, project, deadline=self._service.deadline)
            metrics.add_metric(name="NotificationsSent", unit="Count", value=1)
        except Exception:  # noqa: BLE001 - a lost message must not undo a deployment already under way
            metrics.add_metric(name="NotificationFailures", unit="Count", value=1)
            logger.exception("notification failed", extra={"kind": fields.get("kind")})
