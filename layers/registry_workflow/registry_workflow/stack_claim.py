"""One stack per account and region: the provisioner claims them for its stack on deploy.

Groups, endpoints, models, alarms and the tracker's `managed-by` filter are the account's, not a
stack's: a dev and a prod stack in one account and region would validate the same versions and
race on one endpoint with two ledgers. So the custom resource writes an SSM parameter naming its
stack with `Overwrite=False` (a conditional create: exactly one stack can hold it); another
stack's deploy fails, naming the owner and how to free the claim. Deleting the stack releases
only its own claim, so the rollback of a refused stack leaves the owner's in place.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow.aws import as_operation_error, error_code
from registry_workflow.errors import RegistryWorkflowError

CLAIM_PARAMETER = "/registry-workflow/owner-stack"


class StackClaimError(RegistryWorkflowError):
    """Another stack already serves this account and region."""


def stack_name(stack_id: str) -> str:
    """`arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>` → `<name>`."""
    parts = stack_id.split(":stack/", 1)
    return parts[1].split("/", 1)[0] if len(parts) == 2 else stack_id


def claim(ssm: Any, stack_id: str) -> None:
    """Claim the account and region for this stack; raise naming the owner if another has them."""
    try:
        ssm.put_parameter(
            Name=CLAIM_PARAMETER,
            Value=stack_id,
            Type="String",
            Overwrite=False,
            Description="registry-workflow: the one stack serving this account and region",
        )
        return
    except ClientError as exc:
        if error_code(exc) != "ParameterAlreadyExists":
            raise as_operation_error(f"PutParameter {CLAIM_PARAMETER}", exc) from exc
    except BotoCoreError as exc:
        raise as_operation_error(f"PutParameter {CLAIM_PARAMETER}", exc) from exc
    owner = owner_of(ssm)
    if owner is not None and stack_name(owner) == stack_name(stack_id):
        return  # our own claim (an update, or the same stack re-created under its name)
    raise StackClaimError(
        f"this account and region are already served by stack {stack_name(owner or '?')!r} "
        f"({owner}): registry-workflow runs one stack per account and region, because groups, "
        "endpoints and the managed-by tag are shared. Deploy this stage to another account or "
        f"region, or delete that stack; if it no longer exists, free its claim with "
        f"`aws ssm delete-parameter --name {CLAIM_PARAMETER}`."
    )


def release(ssm: Any, stack_id: str) -> bool:
    """Delete the claim if it is this stack's. Returns True when a claim was released."""
    owner = owner_of(ssm)
    if owner is None or stack_name(owner) != stack_name(stack_id):
        return False
    try:
        ssm.delete_parameter(Name=CLAIM_PARAMETER)
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            return False
        raise as_operation_error(f"DeleteParameter {CLAIM_PARAMETER}", exc) from exc
    return True


def owner_of(ssm: Any) -> str | None:
    """The stack id holding the claim, or None."""
    try:
        return str(ssm.get_parameter(Name=CLAIM_PARAMETER)["Parameter"]["Value"])
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            return None
        raise as_operation_error(f"GetParameter {CLAIM_PARAMETER}", exc) from exc
    except BotoCoreError as exc:
        raise as_operation_error(f"GetParameter {CLAIM_PARAMETER}", exc) from exc
