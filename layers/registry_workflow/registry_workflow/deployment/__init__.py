"""Deploy approved versions, promote them through stages, track them, roll back rejected live versions.

- `decisions`: the pure core, (ledger state, endpoint state, facts) → a decision; no AWS.
- `resources`: what a deployment creates (names, variants, alarms, DeploymentConfig, tags); pure.
- `sagemaker`: the SageMaker/CloudWatch calls that carry a decision out, refusals typed.
- `service`: `DeploymentService`, the facade the deployer and tracker Lambdas run; it hands each
  event to one collaborator per idea:
  - `rollout`: an approval recorded, then queued, superseded or started under the endpoint's lock;
  - `rejection`: a rejected version rolled back to the last approved one, or its endpoint retired;
  - `promotion`: promotion through stages, and the version's `ModelLifeCycle`;
  - `tracking`: deployments closed on the endpoint's events (`track`) and on schedule (`sweep`);
  - `announcements`: what people are told; `outcomes`: what one event did (`Outcome`).
"""

from registry_workflow.deployment.decisions import BUSY, COMPLETED, TERMINAL, is_deployable
from registry_workflow.deployment.resources import (
    MANAGED_BY,
    PACKAGE_ARN_TAG,
    STAGE_TAG,
    VERSION_TAG,
    alarm_definitions,
    alarm_names,
    deployment_config,
    distinct_name,
    endpoint_config_name_for,
    endpoint_tags,
    is_valid_name,
    model_name_for,
    package_created_of,
    production_variants,
    rollback_alarm_names,
)
from registry_workflow.deployment.service import (
    EXECUTION_ROLE_ENV,
    SWEEP_MARGIN_SECONDS,
    SWEEP_MAX_ENDPOINTS,
    DeploymentService,
    Outcome,
    SweepReport,
)
from registry_workflow.gate import APPROVED, REJECTED

__all__ = [
    "APPROVED",
    "BUSY",
    "COMPLETED",
    "EXECUTION_ROLE_ENV",
    "MANAGED_BY",
    "PACKAGE_ARN_TAG",
    "REJECTED",
    "STAGE_TAG",
    "SWEEP_MARGIN_SECONDS",
    "SWEEP_MAX_ENDPOINTS",
    "TERMINAL",
    "VERSION_TAG",
    "DeploymentService",
    "Outcome",
    "SweepReport",
    "alarm_definitions",
    "alarm_names",
    "deployment_config",
    "distinct_name",
    "endpoint_config_name_for",
    "endpoint_tags",
    "is_deployable",
    "is_valid_name",
    "model_name_for",
    "package_created_of",
    "production_variants",
    "rollback_alarm_names",
]
