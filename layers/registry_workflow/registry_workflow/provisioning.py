"""Reconcile the configured Model Package Groups with the account; verify and clean up.

Reads what exists with one paginated `ListModelPackageGroups` (100 a page) instead of describing
groups one by one, creates only what is missing (bounded concurrency, adaptive retries), and
never deletes anything. A group is *managed* when its description carries our marker; the
marker is what makes "is this ours?" answerable from the list call alone, so a re-run on an
up-to-date account costs ceil(N/100) calls and no writes.

A configured group that someone else created (no marker) is *adopted*: SageMaker cannot change a
group's description, so adoption tags it `managed-by` (with `team` and `project`), and a
configured group without the marker is looked up by its tags (one `ListTags` each, only for
those). `verify` reports such a group until `provision` adopts it; the deployer already acts on
every configured group, so after adoption verify, provision and the deployer agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import MANAGED_BY
from registry_workflow.aws import as_operation_error, error_code, error_message
from registry_workflow.config import POLICY_FILE, Project, RegistryConfig
from registry_workflow.errors import ConfigError

MARKER = f"[managed-by={MANAGED_BY}]"
_MARKER_RE = re.compile(re.escape(MARKER))
MAX_WORKERS = 8


class GroupState(StrEnum):
    CREATED = "created"
    PRESENT = "present"  # exists and is ours
    ADOPTED = "adopted"  # configured, created by someone else, now tagged as ours
    UNMANAGED = "unmanaged"  # configured, exists, someone else created it, not adopted yet
    MISSING = "missing"  # configured, does not exist (verify / dry run)
    ORPHANED = "orphaned"  # ours, but no longer in the config
    STRAY = "stray"  # under a configured team's prefix, neither configured nor ours
    FAILED = "failed"


DRIFT = {GroupState.MISSING, GroupState.UNMANAGED, GroupState.ORPHANED, GroupState.STRAY, GroupState.FAILED}


@dataclass(frozen=True)
class ExistingGroup:
    name: str
    arn: str
    description: str

    @property
    def managed(self) -> bool:
        return bool(_MARKER_RE.search(self.description))


@dataclass(frozen=True)
class GroupResult:
    name: str
    state: GroupState
    arn: str = ""
    detail: str = ""


@dataclass
class ProvisionReport:
    enabled: bool
    results: list[GroupResult] = field(default_factory=list)

    def names(self, state: GroupState) -> list[str]:
        return [r.name for r in self.results if r.state == state]

    @property
    def drift(self) -> list[GroupResult]:
        return [r for r in self.results if r.state in DRIFT]

    @property
    def failed(self) -> list[GroupResult]:
        return [r for r in self.results if r.state == GroupState.FAILED]

    def summary(self) -> dict[str, Any]:
        counts = {state.value: len(self.names(state)) for state in GroupState}
        return {"enabled": self.enabled, **{k: v for k, v in counts.items() if v}}


def describe_group(project: Project) -> str:
    """The description of a managed group: human text, then the marker."""
    return f"{project.team} / {project.name} — versions of {project.group_name} {MARKER}"[:1024]


def group_tags(project: Project) -> list[dict[str, str]]:
    return [
        {"Key": "team", "Value": project.team},
        {"Key": "project", "Value": project.name},
        {"Key": "managed-by", "Value": MANAGED_BY},
    ]


def list_groups(sagemaker: Any) -> dict[str, ExistingGroup]:
    """Every Model Package Group of the account and region, one paginated listing."""
    groups: dict[str, ExistingGroup] = {}
    try:
        for page in sagemaker.get_paginator("list_model_package_groups").paginate(PaginationConfig={"PageSize": 100}):
            for summary in page.get("ModelPackageGroupSummaryList", []):
                name = summary["ModelPackageGroupName"]
                groups[name] = ExistingGroup(
                    name,
                    summary.get("ModelPackageGroupArn", ""),
                    summary.get("ModelPackageGroupDescription", ""),
                )
    except (ClientError, BotoCoreError) as exc:
        raise as_operation_error("ListModelPackageGroups", exc) from exc
    return groups


ADOPT_HINT = "created outside registry-workflow: run `registry-workflow provision` to adopt it"


def reconcile(config: RegistryConfig, sagemaker: Any, *, dry_run: bool = False) -> ProvisionReport:
    """Create the configured groups that are missing, adopt configured ones someone else created;
    report everything else as it is."""
    report = ProvisionReport(enabled=config.enabled)
    if not config.enabled:
        return report
    existing = list_groups(sagemaker)
    to_create = [p for p in config.projects if p.group_name not in existing]
    for project in config.projects:
        found = existing.get(project.group_name)
        if found is None:
            continue
        if found.managed:
            report.results.append(GroupResult(found.name, GroupState.PRESENT, found.arn))
        elif is_tagged_managed(sagemaker, found.arn):
            report.results.append(GroupResult(found.name, GroupState.PRESENT, found.arn, "adopted earlier"))
        elif dry_run:
            report.results.append(GroupResult(found.name, GroupState.UNMANAGED, found.arn, ADOPT_HINT))
        else:
            report.results.append(_adopt(sagemaker, project, found.arn))
    report.results.extend(_unconfigured(config, existing))
    if dry_run:
        report.results.extend(GroupResult(p.group_name, GroupState.MISSING) for p in to_create)
        return report
    if to_create:
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(to_create))) as pool:
            report.results.extend(pool.map(lambda p: _create(sagemaker, p), to_create))
    return report


def check_deployed_teams(config: RegistryConfig, deployed: list[str]) -> None:
    """Refuse a config naming a team the stack was not deployed for, before any AWS call.

    The stack's IAM policies and EventBridge rules cover `<team>-*` of its ManagedTeams only: a
    group of another team would be created, then never validated or deployed (or AccessDenied).
    """
    missing = [team for team in config.teams if team not in deployed]
    if missing:
        named = f"team {missing[0]} is" if len(missing) == 1 else f"teams {', '.join(missing)} are"
        raise ConfigError(
            "TEAMS",
            " ".join(config.teams),
            f"{named} in config/.env.shared but not in the stack's ManagedTeams ({','.join(deployed) or 'none'}): "
            f"its IAM policies and EventBridge rules do not cover {', '.join(f'{t}-*' for t in missing)}. "
            f"Redeploy with ManagedTeams={','.join(config.teams)}: `make deploy STAGE=<stage> SAGEMAKER_ROLE_ARN=…` "
            "passes it from this file (`registry-workflow teams`), a bare `sam deploy` passes samconfig.toml's",
            config.source,
        )


def check_against_stack(config: RegistryConfig, teams: str | None, stages: str | None) -> None:
    """The stack's ManagedTeams and GuardedStages (comma-separated) against the config, before any write.

    None for either: not known (an older stack, a local run), nothing to compare with.
    """
    if teams is not None:
        check_deployed_teams(config, _listed(teams))
    if stages is not None:
        check_deployed_stages(config, _listed(stages))


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def check_deployed_stages(config: RegistryConfig, deployed: list[str]) -> None:
    """Refuse a config that guards a stage the stack's GuardedStages does not name, before any AWS call.

    The stack's promoter policy allows exactly its GuardedStages and its approver policy every
    other stage (IAM's `sagemaker:ModelLifeCycle:stage`): a stage policy.toml guards but the stack
    does not is one any approver may ask for, and no promoter may.
    """
    missing = [name for name in config.guarded_stages if name not in deployed]
    if not missing:
        return
    redeploy = (
        f"Redeploy with GuardedStages={','.join(config.guarded_stages)}: `make deploy STAGE=<stage> "
        "SAGEMAKER_ROLE_ARN=…` passes it from policy.toml (`registry-workflow guarded-stages`)"
    )
    source = str(Path(config.source).with_name(POLICY_FILE)) if config.source else POLICY_FILE
    by_case = {name.lower(): name for name in deployed}
    if all(name.lower() in by_case for name in missing):
        # the approver's StringNotEqualsIgnoreCase already keeps approvers out; the promoter's
        # StringEquals lets no promoter in: nobody can ask for it
        spelled = ", ".join(f"{name} (the stack has {by_case[name.lower()]})" for name in missing)
        raise ConfigError(
            "stages",
            ",".join(missing),
            f"guarded in policy.toml but spelled differently in the stack's GuardedStages: {spelled}. "
            f"IAM compares promoters exactly, so no one could ask for it. {redeploy}",
            source,
        )
    where = [p.group_name for p in config.projects if any(p.guards(name) for name in missing)]
    named = f"stage {missing[0]} is" if len(missing) == 1 else f"stages {', '.join(missing)} are"
    raise ConfigError(
        "stages",
        ",".join(missing),
        f"{named} guarded in policy.toml ({', '.join(where)}) but not in the stack's GuardedStages "
        f"({','.join(deployed) or 'none'}): its IAM policies let any approver ask for "
        f"{'it' if len(missing) == 1 else 'them'}, and no promoter. {redeploy}, a bare `sam deploy` passes "
        "samconfig.toml's",
        source,
    )


def verify(config: RegistryConfig, sagemaker: Any) -> ProvisionReport:
    """Config against account, changing nothing (the seed's verify.sh)."""
    return reconcile(config, sagemaker, dry_run=True)


def _unconfigured(config: RegistryConfig, existing: dict[str, ExistingGroup]) -> Iterator[GroupResult]:
    configured = set(config.group_names)
    for group in existing.values():
        if group.name in configured:
            continue
        if group.managed:
            yield GroupResult(group.name, GroupState.ORPHANED, group.arn, "ours, but not in the config")
        elif config.in_managed_namespace(group.name):
            yield GroupResult(group.name, GroupState.STRAY, group.arn, "under a team prefix, not configured")


def is_tagged_managed(sagemaker: Any, group_arn: str) -> bool:
    """True when a group carries the `managed-by` tag (adopted, or created by us)."""
    try:
        tags = sagemaker.list_tags(ResourceArn=group_arn, MaxResults=100).get("Tags", [])
    except (ClientError, BotoCoreError) as exc:
        raise as_operation_error(f"ListTags {group_arn}", exc) from exc
    return any(t.get("Key") == "managed-by" and t.get("Value") == MANAGED_BY for t in tags)


def _adopt(sagemaker: Any, project: Project, group_arn: str) -> GroupResult:
    """Claim a configured group someone else created: tag it (its description cannot change)."""
    try:
        sagemaker.add_tags(ResourceArn=group_arn, Tags=group_tags(project))
    except ClientError as exc:
        detail = f"could not adopt ({error_code(exc)}: {error_message(exc)})"
        return GroupResult(project.group_name, GroupState.FAILED, group_arn, detail)
    except BotoCoreError as exc:
        return GroupResult(project.group_name, GroupState.FAILED, group_arn, f"could not adopt ({exc})")
    return GroupResult(project.group_name, GroupState.ADOPTED, group_arn, "created outside registry-workflow; tagged")


def _adopt_existing(sagemaker: Any, project: Project) -> GroupResult:
    try:
        arn = sagemaker.describe_model_package_group(ModelPackageGroupName=project.group_name)["ModelPackageGroupArn"]
    except (ClientError, BotoCoreError) as exc:
        return GroupResult(project.group_name, GroupState.FAILED, detail=f"exists but cannot be read: {exc}")
    if is_tagged_managed(sagemaker, arn):
        return GroupResult(project.group_name, GroupState.PRESENT, arn, "created concurrently, already ours")
    return _adopt(sagemaker, project, arn)


def _create(sagemaker: Any, project: Project) -> GroupResult:
    try:
        response = sagemaker.create_model_package_group(
            ModelPackageGroupName=project.group_name,
            ModelPackageGroupDescription=describe_group(project),
            Tags=group_tags(project),
        )
    except ClientError as exc:
        if "already exists" in error_message(exc).lower():
            # created between our listing and our call (a person, a pipeline): adopt it like any
            # configured group someone else created
            return _adopt_existing(sagemaker, project)
        return GroupResult(project.group_name, GroupState.FAILED, detail=f"{error_code(exc)}: {error_message(exc)}")
    except BotoCoreError as exc:
        return GroupResult(project.group_name, GroupState.FAILED, detail=str(exc))
    return GroupResult(project.group_name, GroupState.CREATED, response["ModelPackageGroupArn"])


# --- cleanup (the seed's cleanup.sh) -------------------------------------------------------------


@dataclass(frozen=True)
class CleanupItem:
    group: str
    versions: tuple[str, ...]
    managed: bool


def plan_cleanup(
    config: RegistryConfig, sagemaker: Any, *, include_unmanaged: bool = False, only: list[str] | None = None
) -> list[CleanupItem]:
    """What cleanup would delete: managed groups (and, if told, configured unmanaged ones)."""
    configured = set(config.group_names)
    plan = []
    for group in list_groups(sagemaker).values():
        if only and group.name not in only:
            continue
        # an adopted group (configured, tagged managed-by) is ours like one we created
        managed = group.managed or (group.name in configured and is_tagged_managed(sagemaker, group.arn))
        if not (managed or (include_unmanaged and group.name in configured)):
            continue
        plan.append(CleanupItem(group.name, tuple(list_versions(sagemaker, group.name)), managed))
    return sorted(plan, key=lambda item: item.group)


def list_versions(sagemaker: Any, group_name: str) -> Iterator[str]:
    """ARNs of every version in a group (all approval states)."""
    paginator = sagemaker.get_paginator("list_model_packages")
    for page in paginator.paginate(ModelPackageGroupName=group_name, PaginationConfig={"PageSize": 100}):
        for summary in page.get("ModelPackageSummaryList", []):
            yield summary["ModelPackageArn"]


def execute_cleanup(plan: list[CleanupItem], sagemaker: Any) -> list[str]:
    """Delete versions, then their group. Returns the names of the groups deleted."""
    deleted = []
    for item in plan:
        for arn in item.versions:
            try:
                sagemaker.delete_model_package(ModelPackageName=arn)
            except ClientError as exc:
                raise as_operation_error(f"DeleteModelPackage {arn}", exc) from exc
        try:
            sagemaker.delete_model_package_group(ModelPackageGroupName=item.group)
        except ClientError as exc:
            raise as_operation_error(f"DeleteModelPackageGroup {item.group}", exc) from exc
        deleted.append(item.group)
    return deleted
