"""Promotion through a project's stages, and the version's `ModelLifeCycle` that says where it serves.

A promotion (`ModelLifeCycle = {Stage: <stage>, StageStatus: Approved}`) is deployed like an
approval once `decisions.on_promotion` allows it, or refused: people are told why and the
lifecycle is set back. The lifecycle writes of the rest of the service (deployed, rolled back,
retired, a failed promotion) are here too; each is best effort, the ledger being the record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from registry_workflow.deployment import decisions
from registry_workflow.deployment.decisions import (
    STAGE_APPROVED,
    STAGE_DEPLOYED,
    STAGE_REFUSED,
    STAGE_ROLLED_BACK,
    StageView,
)
from registry_workflow.deployment.outcomes import Outcome
from registry_workflow.deployment.resources import rollback_alarm_names
from registry_workflow.errors import RegistryWorkflowError
from registry_workflow.observability import logger, metrics

if TYPE_CHECKING:
    from registry_workflow.config import Project, Stage
    from registry_workflow.deployment.service import DeploymentService
    from registry_workflow.ledger import Deployment


class Promotion:
    """Promotes versions stage to stage and keeps their `ModelLifeCycle` in step with the ledger."""

    def __init__(self, service: DeploymentService) -> None:
        self._service = service
        self.ledger = service.ledger
        self.endpoints = service.endpoints

    def promote(self, project: Project, package: dict[str, Any], trigger: str) -> Outcome:
        """A promotion asked by `ModelLifeCycle = {Stage: <stage>, StageStatus: Approved}`.

        Deployed to that stage when the version is live in the stage before it, has soaked there
        and none of that stage's alarms has been in ALARM since it went live there; otherwise
        refused: people are told why and the version's `ModelLifeCycle` is set back to where it
        is live, with the reason.
        """
        stage_name, status = decisions.lifecycle_stage(package)
        version = int(package.get("ModelPackageVersion") or 0)
        if status != STAGE_APPROVED:
            return Outcome("stale", version=version, detail=f"ModelLifeCycle is {stage_name}/{status} now")
        views = [self._stage_view(project, s, package, s.index < len(project.stages) - 1) for s in project.stages]
        index, why = decisions.on_promotion(views, package)
        if index is not None:
            refusal = self._service.standing.why_not(project, package)
            if refusal is not None:
                index, why = None, refusal
        if index is None:
            return self._refuse_promotion(project, package, views, stage_name or "", why)
        stage = project.stages[index]
        logger.info("promotion accepted", extra={"group": project.group_name, "version": version, "stage": stage.name})
        return self._service.rollout.approve(project, package, trigger, stage)

    def _stage_view(self, project: Project, stage: Stage, package: dict[str, Any], read_alarms: bool) -> StageView:
        live = self.ledger.live(stage.endpoint)
        alarming: list[str] = []
        if read_alarms and live is not None and live.package_arn == package.get("ModelPackageArn"):
            # in ALARM now, or at any time since the version went live here (fired and cleared counts)
            names, since = (
                rollback_alarm_names(stage.deploy, stage.endpoint),
                decisions.parse_ledger_time(live.finished_at),
            )
            alarming = self.endpoints.alarms_in_alarm_since(names, since)
        return StageView(stage.name, stage.soak_minutes, live, tuple(alarming))

    def _refuse_promotion(
        self, project: Project, package: dict[str, Any], views: list[StageView], wanted: str, why: str
    ) -> Outcome:
        arn, version = package["ModelPackageArn"], int(package.get("ModelPackageVersion") or 0)
        logger.warning("promotion refused", extra={"group": project.group_name, "version": version, "reason": why})
        metrics.add_metric(name="PromotionsRefused", unit="Count", value=1)
        where = next((v.name for v in reversed(views) if v.live is not None and v.live.package_arn == arn), None)
        self.set_lifecycle_back(arn, where, f"promotion to {wanted} refused: {why}", asked=wanted)
        self._service.announcer.notify_version(
            project, package, "promotion_refused", f"promotion to {wanted} refused", why, wanted
        )
        return Outcome("promotion_refused", version=version, detail=why, stage=wanted)

    def set_lifecycle_back(self, arn: str, where: str | None, why: str, *, asked: str = "") -> None:
        """ModelLifeCycle back to the stage where the version is live (Deployed), saying why; best effort.

        A version live in no stage keeps the stage it asked for, `Refused`: never `Approved` again.
        """
        stage, status = (where, STAGE_DEPLOYED) if where else (asked, STAGE_REFUSED)
        if stage:
            self._write_lifecycle(arn, stage, status, why)

    def mark_deployed(self, project: Project, stage: Stage, record: Deployment, package: dict[str, Any]) -> None:
        """Staged projects: the version's ModelLifeCycle says where it now serves (never moved backwards).

        A rollback also says so of the version it undid: `RolledBack` where it was rejected live.
        """
        if not project.is_staged:
            return
        if decisions.should_mark_deployed(package, [s.name for s in project.stages], stage.name):
            why = f"live on {stage.endpoint} ({record.deployment_id})"
            self._write_lifecycle(record.package_arn, stage.name, STAGE_DEPLOYED, why)
        if record.kind == "rollback" and record.previous_package_arn:
            self.mark_taken_down(
                stage, record.previous_package_arn, STAGE_ROLLED_BACK, f"rolled back to v{record.version}"
            )

    def mark_taken_down(self, stage: Stage, arn: str, status: str, why: str) -> None:
        """The rejected version's ModelLifeCycle, where it said it served in `stage`: no longer there."""
        stage_name, _ = decisions.lifecycle_stage(self.endpoints.describe_package(arn))
        if stage_name == stage.name:
            self._write_lifecycle(arn, stage.name, status, f"rejected; {why} on {stage.endpoint}")

    def _write_lifecycle(self, arn: str, stage: str, status: str, why: str) -> None:
        """Best effort: the ledger is the record; a failed write is counted and logged."""
        try:
            self.endpoints.set_lifecycle(arn, stage, status, why)
        except RegistryWorkflowError as exc:
            metrics.add_metric(name="LifecycleWriteFailures", unit="Count", value=1)
            logger.warning("ModelLifeCycle not updated", extra={"package_arn": arn, "reason": str(exc)})
