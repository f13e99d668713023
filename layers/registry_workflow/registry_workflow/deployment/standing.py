"""Whether a version the gate admitted may still be deployed, when the deployment comes later.

The gate (admission.py) judges an approval when its event arrives. Work that deploys a version
afterwards — a queued deployment started by the tracker or the sweep, a promotion to a later
stage, a rollback target — asks here first (docs/decisions.md 84):

* its standing (`GateRecords.standing`): the approval the gate admitted must not have been
  withdrawn since (set back to pending, or refused by the gate: a self-approval after someone
  set it back to pending never counts as the earlier approval);
* for a queued deployment and a promotion, a passing verdict under the policy in force (the
  policy may have changed since the approval): without one it is validated now, as the gate
  validates an approval without one (a failure rejects it); a rollback target keeps the verdict
  it was admitted with (the version served before, and rolling back must not wait for a validation).

A version with no standing recorded was approved before the gate kept standings: allowed, as
before, and logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from registry_workflow.gate import GateRecords
from registry_workflow.observability import logger

if TYPE_CHECKING:
    from registry_workflow.config import Project
    from registry_workflow.ledger import DeploymentLedger


class Standing:
    """Asks the gate's records whether a version may still go out (see the module)."""

    def __init__(self, ledger: DeploymentLedger, sagemaker: Any | None = None) -> None:
        self.records = GateRecords(ledger.table_name, ledger._client)
        self.sagemaker = sagemaker

    def why_not(self, project: Project, package: dict[str, Any], *, policy_in_force: bool = True) -> str | None:
        """None when the version may be deployed now; else why not, in words."""
        arn, created = str(package.get("ModelPackageArn") or ""), package.get("CreationTime")
        standing = self.records.standing(arn, created)
        if standing == "withdrawn":
            return "its approval was withdrawn or refused after the gate admitted it"
        if standing == "unknown":
            logger.info("no standing recorded: approved before the gate kept standings", extra={"package_arn": arn})
        if policy_in_force:
            digest = project.policy.digest()
            verdict = self.records.validation(arn, digest, created=created)
            if verdict is None:
                verdict_passed, why = self._validate_now(project, package)
                if not verdict_passed:
                    return why
            elif not verdict.passed:
                return (
                    f"failed validation under the policy in force ({digest}): {verdict.failed_rules or 'see the stamp'}"
                )
        return None

    def _validate_now(self, project: Project, package: dict[str, Any]) -> tuple[bool, str]:
        """No verdict under the policy in force (it changed since the approval): validated now, as
        the gate validates an approval without one; a failure rejects the version."""
        from registry_workflow.audit import AuditTrail
        from registry_workflow.events import detail_of_package
        from registry_workflow.validation import validate_version

        outcome = validate_version(
            detail_of_package(package), project, sagemaker=self.sagemaker, records=self.records,
            trail=AuditTrail(self.records.table_name, self.records._client), package=package, for_approval=True,
        )  # fmt: skip
        if outcome.result is not None and outcome.result.passed:
            return True, ""
        return False, f"not validated under the policy in force, and validation failed: {outcome.detail}"
