"""`registry-workflow`: the operator's commands (the seed's shell scripts, and more).

Every command talks to whatever the current credentials and `AWS_ENDPOINT_URL` point at, so the
same commands work against AWS and against `registry-workflow local`. Exit codes, for scripts:
0 ok; 1 drift or failure (an AWS call failed, the audit chain does not verify); 2 usage or config
(a bad option or argument, an invalid config, no region/profile/credentials, no ledger table).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.config import CONFIG_DIR_ENV, RegistryConfig, load_config
from registry_workflow.errors import ConfigError, RegistryWorkflowError
from registry_workflow.local import DEFAULT_PORT

CONFIG_OPTION = click.option(
    "--config-dir",
    envvar=CONFIG_DIR_ENV,
    default="config",
    show_default=True,
    type=click.Path(file_okay=False),
    help=f"Directory holding .env.shared and policy.toml (env: {CONFIG_DIR_ENV}).",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of a table.")
#: exit code of a usage or config error (click's own UsageError uses it too)
USAGE_EXIT = 2


class UsageProblem(click.ClickException):
    """A usage or config error: exit 2, the message names what to change."""

    exit_code = USAGE_EXIT


class _Commands(click.Group):
    """Turns AWS settings and connection failures of any command into one clear line and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (BotoCoreError, ClientError) as exc:
            raise _aws_failure(exc) from exc


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="registry-workflow")
@click.option("--region", help="AWS region, like the aws CLI's --region (default: AWS_REGION, the profile's).")
@click.option("--profile", help="Named profile of ~/.aws/config, like the aws CLI's --profile (env: AWS_PROFILE).")
@click.pass_context
def main(ctx: click.Context, region: str | None, profile: str | None) -> None:
    """SageMaker Model Registry as an event-driven approval workflow.

    Uses the current AWS credentials and region; set AWS_ENDPOINT_URL to use a local stand-in
    (see `registry-workflow local`). Exit codes: 0 ok, 1 drift or failure, 2 usage or config.
    """
    if ctx.invoked_subcommand == "local":  # the twin is its own AWS: its own --region, the handlers' clients
        return
    # before any client: a person waits, so an unreachable endpoint fails in seconds
    aws.configure(region=region, profile=profile, config=aws.CLI_CONFIG)


def _aws_failure(exc: BotoCoreError | ClientError) -> click.ClickException:
    """An AWS error in the operator's words: settings problems are usage (2), the rest failures (1)."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError, ProfileNotFound

    if isinstance(exc, EndpointConnectionError):
        endpoint = exc.kwargs.get("endpoint_url", "the endpoint")
        hint = (
            " Is the twin running? Start it with `registry-workflow local` (or `make local`) and paste the "
            "`export …` line it prints."
            if os.environ.get("AWS_ENDPOINT_URL")
            else " Check the network, the region (--region) and AWS_ENDPOINT_URL."
        )
        return click.ClickException(f"cannot reach {endpoint}.{hint}")
    if isinstance(exc, ProfileNotFound | NoRegionError | NoCredentialsError):
        return UsageProblem(f"{exc} (see --profile, --region, `aws configure`)")
    if isinstance(exc, ClientError):
        return click.ClickException(aws.as_operation_error(exc.operation_name, exc).args[0])
    return click.ClickException(str(exc))


def _config(config_dir: str) -> RegistryConfig:
    try:
        return load_config(config_dir)
    except ConfigError as exc:
        count = len(exc.errors)
        head = "bad config:" if count == 1 else f"bad config ({count} problems):"
        raise UsageProblem(f"{head}\n{exc}") from exc


def _emit(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers), line, *(fmt.format(*map(str, row)) for row in rows)])


@main.command()
@CONFIG_OPTION
@click.option("--dry-run", is_flag=True, help="Show what would be created; create nothing.")
@click.option(
    "--stack-name",
    help="First check the config against this deployed stack's ManagedTeams and GuardedStages, as the "
    "provisioner Lambda does (default: no check; STACK_NAME, which the ledger commands read, does not turn it on).",
)
def provision(config_dir: str, dry_run: bool, stack_name: str | None) -> None:
    """Create the Model Package Group of every configured project that does not exist yet.

    Runs the provisioner Lambda's own code. Groups are named {team}-{project}, described and
    tagged (team, project, managed-by). A configured group someone else created is adopted
    (tagged managed-by; its versions were already deployed as the config says). Nothing is
    deleted. A re-run on an up-to-date account makes no writes. (The seed's
    01-create-model-groups.sh.) With --stack-name, a config naming a team the stack was not
    deployed for, or guarding a stage it does not guard, is refused first (exit 2), nothing created.
    """
    from registry_workflow.provisioning import GroupState, check_against_stack, reconcile

    config = _config(config_dir)
    if stack_name:
        parameters = _stack_parameters(stack_name)
        _run(lambda: check_against_stack(config, parameters.get("ManagedTeams"), parameters.get("GuardedStages")))
    if not config.enabled:
        click.echo("ENABLE_MODEL_REGISTRY=false: nothing to provision.")
        return
    report = _run(lambda: reconcile(config, aws.client("sagemaker"), dry_run=dry_run))
    rows = [[r.name, r.state.value, r.detail] for r in report.results]
    click.echo(_table(["GROUP", "STATE", "DETAIL"], rows))
    created = len(report.names(GroupState.CREATED))
    click.echo(
        f"\n{created} created, {len(report.names(GroupState.PRESENT))} already present, "
        f"{len(report.names(GroupState.ADOPTED))} adopted, "
        f"{len(report.names(GroupState.UNMANAGED))} present but unmanaged"
        + (f", {len(report.names(GroupState.MISSING))} would be created" if dry_run else "")
    )
    if report.failed:
        raise click.ClickException(f"{len(report.failed)} group(s) could not be created or adopted")


@main.command()
@CONFIG_OPTION
@JSON_OPTION
def groups(config_dir: str, as_json: bool) -> None:
    """Print the configured group names, comma-separated.

    --json: [{"group", "team", "project", "endpoint", "deploys"}], one per project.
    """
    config = _config(config_dir)
    if as_json:
        _emit(
            [
                {
                    "group": p.group_name,
                    "team": p.team,
                    "project": p.name,
                    "endpoint": p.endpoint_name,
                    "deploys": p.policy.deploy.enabled,
                }
                for p in config.projects
            ]
        )
        return
    click.echo(",".join(config.group_names))


@main.command()
@CONFIG_OPTION
@JSON_OPTION
def teams(config_dir: str, as_json: bool) -> None:
    """Print the configured team names, comma-separated (the template's ManagedTeams).

    --json: [{"team", "groups"}], one per team.
    """
    config = _config(config_dir)
    if as_json:
        _emit([{"team": t, "groups": [p.group_name for p in config.projects if p.team == t]} for t in config.teams])
        return
    click.echo(",".join(config.teams))


@main.command("guarded-stages")
@CONFIG_OPTION
@JSON_OPTION
def guarded_stages(config_dir: str, as_json: bool) -> None:
    """Print the stages only a promoter may ask for, comma-separated (the template's GuardedStages).

    A stage of policy.toml is guarded when it says `guarded = true`, or when it is a project's
    last stage and says nothing. With none guarded (the parameter is never empty): `production`,
    the template's default, or `-` (a name no stage can have) when a project has an open
    `production` stage. --json: [{"stage", "groups"}], one per guarded stage (none: []).
    """
    config = _config(config_dir)
    if as_json:
        guarded = {name: [p.group_name for p in config.projects if p.guards(name)] for name in config.guarded_stages}
        _emit([{"stage": name, "groups": groups} for name, groups in guarded.items()])
        return
    click.echo(config.guarded_stages_parameter)


@main.command()
@CONFIG_OPTION
@JSON_OPTION
def verify(config_dir: str, as_json: bool) -> None:
    """Compare the config with the account; exit 1 on drift (the seed's verify.sh).

    Drift is: a configured group that is missing, a configured group created by someone else
    and not adopted yet (`registry-workflow provision` adopts it), a managed group no longer in
    the config, or an unconfigured group under a team's prefix. --json: {"ok", "drift",
    "groups": [{"group", "state", "drift", "detail"}]} (exit 1 on drift all the same).
    """
    from registry_workflow.provisioning import GroupState
    from registry_workflow.provisioning import verify as verify_groups

    config = _config(config_dir)
    report = _run(lambda: verify_groups(config, aws.client("sagemaker")))
    if as_json:
        groups = [
            {"group": r.name, "state": r.state.value, "drift": r in report.drift, "detail": r.detail}
            for r in report.results
        ]
        _emit({"ok": not report.drift, "drift": len(report.drift), "groups": groups})
        if report.drift:
            sys.exit(1)
        return
    rows = [[r.name, r.state.value, "DRIFT" if r in report.drift else "ok", r.detail] for r in report.results]
    click.echo(_table(["GROUP", "STATE", "CHECK", "DETAIL"], rows) if rows else "no groups configured")
    if report.drift:
        click.echo(f"\n{len(report.drift)} drift(s) found.", err=True)
        if report.names(GroupState.UNMANAGED) or report.names(GroupState.MISSING):
            click.echo("Run `registry-workflow provision` to create the missing and adopt the unmanaged.", err=True)
        sys.exit(1)
    click.echo(f"\nAll {len(config.projects)} configured groups present and managed.")


@main.command()
@CONFIG_OPTION
@click.option("--yes", is_flag=True, help="Really delete. Without it, only print what would go.")
@click.option(
    "--include-unmanaged",
    is_flag=True,
    help="Also delete configured groups that registry-workflow did not create.",
)
@click.option("--group", "groups", multiple=True, help="Limit to this group (repeatable).")
def cleanup(config_dir: str, yes: bool, include_unmanaged: bool, groups: tuple[str, ...]) -> None:
    """Delete managed groups and every version in them (the seed's cleanup.sh).

    DESTRUCTIVE with --yes: versions are deleted first, then their group. Without --yes this is
    a dry run that prints what would be deleted. Groups not created by registry-workflow are
    never touched unless --include-unmanaged is given.
    """
    from registry_workflow.provisioning import execute_cleanup, plan_cleanup

    config = _config(config_dir)
    _known_groups(config, groups)
    sagemaker = aws.client("sagemaker")
    plan = _run(lambda: plan_cleanup(config, sagemaker, include_unmanaged=include_unmanaged, only=list(groups)))
    absent = [g for g in groups if config.project_for_group(g) is None and g not in {i.group for i in plan}]
    if absent:  # under a team's prefix, but neither configured nor a managed group in the account
        raise UsageProblem(f"no managed group {', '.join(absent)} in the account or the config")
    if not plan:
        click.echo("Nothing to clean up.")
        return
    rows = [[item.group, len(item.versions), "yes" if item.managed else "no"] for item in plan]
    click.echo(_table(["GROUP", "VERSIONS", "MANAGED"], rows))
    if not yes:
        click.echo(f"\nDry run: {len(plan)} group(s) would be deleted. Re-run with --yes to delete them.")
        return
    deleted = _run(lambda: execute_cleanup(plan, sagemaker))
    versions = sum(len(item.versions) for item in plan)
    click.echo(f"\nDeleted {len(deleted)} group(s) and {versions} version(s).")


def _known_groups(config: RegistryConfig, groups: tuple[str, ...] | list[str], *, configured: bool = False) -> None:
    """Refuse (exit 2) a group outside the config's teams (or not configured) before any AWS call."""
    from registry_workflow.config import did_you_mean

    for group in groups:
        if config.project_for_group(group) is None and (configured or not config.in_managed_namespace(group)):
            raise UsageProblem(
                f"unknown group {group}: not in the config{did_you_mean(group, config.group_names)} "
                f"(groups: {', '.join(config.group_names) or 'none'})"
            )


# --- decisions: approve or reject a version, the same path as the console -------------------------

REASON_OPTION = click.option(
    "--reason",
    required=True,
    help="Why (the version's ApprovalDescription, at most 1024 characters; shown in messages and the audit trail).",
)


@main.command()
@CONFIG_OPTION
@click.argument("group")
@click.argument("version", type=click.IntRange(min=1))
@REASON_OPTION
def approve(config_dir: str, group: str, version: int, reason: str) -> None:
    """Approve version VERSION of GROUP (UpdateModelPackage, as the console does).

    The gate then applies as to any approval: the version must have passed validation under the
    policy in force, and the approver must not be its registrant (and be an allowed approver).
    """
    _decide(config_dir, group, version, "Approved", reason)


@main.command()
@CONFIG_OPTION
@click.argument("group")
@click.argument("version", type=click.IntRange(min=1))
@REASON_OPTION
def reject(config_dir: str, group: str, version: int, reason: str) -> None:
    """Reject version VERSION of GROUP (UpdateModelPackage); a live version is rolled back."""
    _decide(config_dir, group, version, "Rejected", reason)


@main.command()
@CONFIG_OPTION
@click.argument("group")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--to", "stage", required=True, help="The stage to promote to (a stage of the project, after the first).")
@REASON_OPTION
def promote(config_dir: str, group: str, version: int, stage: str, reason: str) -> None:
    """Ask to promote version VERSION of GROUP to a later stage (staged projects).

    Exactly the console's call: UpdateModelPackage with ModelLifeCycle = {Stage: <stage>,
    StageStatus: Approved, StageDescription: <reason>}, so IAM's condition keys
    sagemaker:ModelLifeCycle:stage / stageStatus decide who may promote where. The deployer then
    deploys it there, or refuses (not live in the stage before, still soaking, alarms) and says why.
    """
    from registry_workflow.config import did_you_mean

    reason = _reason(reason)
    config = _config(config_dir)
    _known_groups(config, [group], configured=True)
    project = config.project_for_group(group)
    assert project is not None
    names = [s.name for s in project.stages]
    if not project.is_staged:
        raise UsageProblem(f'{group} has one stage: promotion needs [[projects."{group}".stages]] in policy.toml')
    if stage not in names:
        raise click.BadParameter(
            f"{group} has no stage {stage}{did_you_mean(stage, names)} (stages: {', '.join(names)})", param_hint="--to"
        )
    if stage == names[0]:
        raise click.BadParameter(
            f"{stage} is the first stage: a version goes there when it is approved", param_hint="--to"
        )
    sagemaker = aws.client("sagemaker")
    arn = _run(lambda: _version_arn(sagemaker, group, version))
    lifecycle = {"Stage": stage, "StageStatus": "Approved", "StageDescription": reason}
    _run(lambda: sagemaker.update_model_package(ModelPackageArn=arn, ModelLifeCycle=lifecycle))
    click.echo(f"{group} v{version}: promotion to {stage} asked ({reason})")
    click.echo("The deployer checks it next: `registry-workflow status` and `audit` show what happened.")


#: SageMaker's limit on ApprovalDescription (and on ModelLifeCycle's StageDescription)
MAX_REASON = 1024


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise click.BadParameter("must say why", param_hint="--reason")
    if len(reason) > MAX_REASON:
        raise click.BadParameter(f"is {len(reason)} characters: at most {MAX_REASON}", param_hint="--reason")
    return reason


def _decide(config_dir: str, group: str, version: int, status: str, reason: str) -> None:
    reason = _reason(reason)
    config = _config(config_dir)
    _known_groups(config, [group], configured=True)
    sagemaker = aws.client("sagemaker")
    arn = _run(lambda: _version_arn(sagemaker, group, version))
    current = _run(lambda: sagemaker.describe_model_package(ModelPackageName=arn)).get("ModelApprovalStatus")
    if current == status:
        click.echo(f"{group} v{version} is already {status}: nothing to do")
        return
    _run(
        lambda: sagemaker.update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus=status, ApprovalDescription=reason
        )
    )
    click.echo(f"{group} v{version}: {current} -> {status} ({reason})")
    if status == "Approved":
        click.echo("The gate checks it next: `registry-workflow status` and `audit` show what happened.")


def _version_arn(sagemaker: Any, group: str, version: int) -> str:
    """The ARN of a group's version, or a failure naming the versions there are."""
    found: list[int] = []
    paginator = sagemaker.get_paginator("list_model_packages")
    for page in paginator.paginate(ModelPackageGroupName=group, PaginationConfig={"PageSize": 100}):
        for summary in page.get("ModelPackageSummaryList", []):
            number = int(summary.get("ModelPackageVersion") or 0)
            if number == version:
                return str(summary["ModelPackageArn"])
            found.append(number)
    have = f"v{min(found)}-v{max(found)}" if found else "none"
    raise RegistryWorkflowError(f"{group} has no version {version} (versions: {have})")


@main.command()
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
@click.option(
    "--region",
    envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
    default="us-east-1",
    show_default=True,
    help="The twin's region: handlers, ARNs and events (env: AWS_REGION, AWS_DEFAULT_REGION).",
)
@click.option(
    "--transition-seconds",
    default=2.0,
    show_default=True,
    help="How long an endpoint stays Creating/Updating before InService.",
)
@click.option("--duplicate-events", is_flag=True, help="Deliver every event twice (as AWS may).")
@click.option(
    "--timestamps",
    type=click.Choice(["epoch-ms", "iso"]),
    default="epoch-ms",
    show_default=True,
    help="Shape of CreationTime/LastModifiedTime in model-package events (real accounts: epoch-ms; AWS docs: iso).",
)
@click.option(
    "--concurrency",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Concurrent invocations per function, unless the template reserves its concurrency.",
)
@click.option("--handler-logs", is_flag=True, help="Also print the handlers' JSON logs and EMF metrics.")
@click.option(
    "--template", "template_path", default="template.yaml", show_default=True, type=click.Path(dir_okay=False)
)
@CONFIG_OPTION
def local(
    port: int,
    region: str,
    transition_seconds: float,
    duplicate_events: bool,
    timestamps: str,
    concurrency: int,
    handler_logs: bool,
    template_path: str,
    config_dir: str,
) -> None:
    """Start the offline twin of AWS on 127.0.0.1 and print a live log of events and handlers.

    The twin is moto (with the project's fixes for moto's gaps), the resources of template.yaml,
    and an event bus: every SageMaker change in the twin's region emits the event AWS would emit,
    matched against the template's EventBridge rules and handed to the same handler code Lambda
    runs, each function in its own warm processes, concurrently. Point any client at it with the
    printed exports. Switches (POST to the control URL): /twin/fail-next-update (body: reason),
    /twin/duplicate-events (body: true|false); GET /twin/log returns every event, handler outcome
    and message. The first Ctrl-C or SIGTERM stops it.
    """
    import time

    from registry_workflow.local.server import serve_until_stopped
    from registry_workflow.local.twin import Twin

    _config(config_dir)  # a bad config stops here, before anything starts
    stamp = lambda line: click.echo(f"{time.strftime('%H:%M:%S')} {line}")  # noqa: E731
    try:
        twin = Twin(
            port=port,
            template_path=template_path,
            config_dir=config_dir,
            transition_seconds=transition_seconds,
            duplicate_events=duplicate_events,
            handler_logs=handler_logs,
            echo=stamp,
            region=region,
            timestamps=timestamps,
            concurrency=concurrency,
        )
    except RegistryWorkflowError as exc:
        raise click.ClickException(str(exc)) from exc

    from registry_workflow.local.server import PortInUseError, ensure_port_free

    try:
        ensure_port_free(port)  # said at once, exit 2: not a traceback and a twin that never serves
    except PortInUseError as exc:
        raise UsageProblem(str(exc)) from exc

    def start() -> None:
        twin.start()
        click.echo(f"ready: AWS twin on {twin.url} (control: {twin.control_url}) in {twin.region}")
        click.echo(
            f"  export AWS_ENDPOINT_URL={twin.url} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
            f"AWS_DEFAULT_REGION={twin.region}"
        )

    def stop() -> None:
        twin.stop()
        click.echo("stopped")

    serve_until_stopped(stop, start)


def _run(action: Any) -> Any:
    try:
        return action()
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from exc
    except RegistryWorkflowError as exc:
        cause = exc.__cause__  # an adapter's AwsOperationError wraps what botocore raised
        if isinstance(cause, BotoCoreError):
            raise _aws_failure(cause) from exc
        raise click.ClickException(str(exc)) from exc
    except (BotoCoreError, ClientError) as exc:
        raise _aws_failure(exc) from exc


# --- deployments: the ledger ---------------------------------------------------------------------

#: the stack output that names the ledger table (template.yaml), and the twin's table name
LEDGER_OUTPUT = "LedgerTableName"
TWIN_LEDGER_TABLE = "LedgerTable"


def LEDGER_OPTION(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--ledger-table` and `--stack-name`; the command gets `ledger_table` resolved (see `ledger_table_for`)."""

    @click.option(
        "--stack-name",
        envvar="STACK_NAME",
        help="The deployed stack whose output LedgerTableName names the ledger table "
        "(default: samconfig.toml's stack_name; env: STACK_NAME).",
    )
    @click.option(
        "--ledger-table",
        envvar="LEDGER_TABLE",
        help="DynamoDB table of the deployment ledger (env: LEDGER_TABLE); default: from the stack, "
        f"or {TWIN_LEDGER_TABLE} when AWS_ENDPOINT_URL points at the twin.",
    )
    @functools.wraps(command)
    def resolved(*args: Any, ledger_table: str | None, stack_name: str | None, **kwargs: Any) -> Any:
        return command(*args, ledger_table=ledger_table_for(ledger_table, stack_name), **kwargs)

    return resolved


def ledger_table_for(explicit: str | None, stack_name: str | None) -> str:
    """The ledger table: as given, else the twin's (AWS_ENDPOINT_URL set), else the stack's output."""
    if explicit:
        return explicit
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
        return TWIN_LEDGER_TABLE
    stack = stack_name or _samconfig_stack_name()
    if not stack:
        raise UsageProblem(
            f"which ledger table? Pass --stack-name (its output {LEDGER_OUTPUT}), or --ledger-table / LEDGER_TABLE"
        )
    described = _described_stack(stack, otherwise=f"--ledger-table with its output {LEDGER_OUTPUT}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    if LEDGER_OUTPUT not in outputs:
        raise UsageProblem(
            f"stack {stack} has no output {LEDGER_OUTPUT}: is it a registry-workflow stack? "
            f"Pass --ledger-table with the table's name"
        )
    return outputs[LEDGER_OUTPUT]


def _described_stack(stack: str, *, otherwise: str) -> dict[str, Any]:
    """DescribeStacks of one stack; one that does not exist is a usage problem that says what else to pass."""
    try:
        return dict(aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0])
    except ClientError as exc:
        if aws.error_code(exc) == "ValidationError":  # CloudFormation's "Stack with id … does not exist"
            raise UsageProblem(
                f"stack {stack} not found in this account and region: pass --stack-name (or --region), or {otherwise}"
            ) from exc
        raise


def _stack_parameters(stack: str) -> dict[str, str]:
    """A deployed stack's parameter values (a CommaDelimitedList as its comma-separated text)."""
    described = _described_stack(stack, otherwise="leave --stack-name out to skip the check")
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    if "ManagedTeams" not in parameters and "GuardedStages" not in parameters:
        raise UsageProblem(
            f"stack {stack} has no ManagedTeams or GuardedStages parameter: is it a registry-workflow stack?"
        )
    return parameters


def _samconfig_stack_name(path: str = "samconfig.toml") -> str | None:
    """`stack_name` of samconfig.toml's [default.global.parameters] (or [default.deploy.parameters])."""
    import tomllib

    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    default = data.get("default", {})
    for section in ("global", "deploy"):
        name = default.get(section, {}).get("parameters", {}).get("stack_name")
        if isinstance(name, str) and name:
            return name
    return None


@main.command()
@CONFIG_OPTION
@LEDGER_OPTION
@JSON_OPTION
def status(config_dir: str, ledger_table: str, as_json: bool) -> None:
    """Per project and stage: the live version on which endpoint, since when, approved by whom; in flight, queued.

    A staged project has one row per stage, in order. A live version rejected since (with nothing
    to roll back to) shows as "v1 (rejected)".
    --json: [{"group", "stage", "endpoint", "live": {"version", "since", "approved_by", "rejected"} or
    null, "in_flight": [{"version", "kind"}], "queued": [{"version"}]}] ("stage" is "" for a project's
    only stage).
    """
    from registry_workflow.ledger import DeploymentLedger, live_of

    config = _config(config_dir)
    ledger = DeploymentLedger(ledger_table)
    sagemaker = aws.client("sagemaker")
    rows, documents = [], []
    for project, stage in ((p, s) for p in config.projects for s in p.stages):
        endpoint = stage.endpoint
        records = _run(lambda endpoint=endpoint: ledger.for_endpoint(endpoint))
        live = live_of(records)
        rejected = live is not None and _is_rejected(sagemaker, live.package_arn)
        inflight = [d for d in records if d.status == "in_progress"]
        queued = [d for d in records if d.status == "queued"]
        documents.append(
            {
                "group": project.group_name,
                "stage": stage.label,
                "endpoint": endpoint,
                "live": {
                    "version": live.version,
                    "since": live.finished_at,
                    "approved_by": live.approver,
                    "rejected": rejected,
                }
                if live
                else None,
                "in_flight": [{"version": d.version, "kind": d.kind} for d in inflight],
                "queued": [{"version": d.version} for d in queued],
            }
        )
        rows.append(
            [
                project.group_name,
                stage.label or "-",
                endpoint,
                (f"v{live.version}" + (" (rejected)" if rejected else "")) if live else "-",
                (live.finished_at or "-") if live else "-",
                (live.approver or "-") if live else "-",
                ", ".join(f"v{d.version} ({d.kind})" for d in inflight) or "-",
                ", ".join(f"v{d.version}" for d in queued) or "-",
            ]
        )
    if as_json:
        _emit(documents)
        return
    headers = ["GROUP", "STAGE", "ENDPOINT", "LIVE", "SINCE", "APPROVED BY", "IN FLIGHT", "QUEUED"]
    if not any(p.is_staged for p in config.projects):  # the STAGE column only when a project has stages
        headers, rows = headers[:1] + headers[2:], [row[:1] + row[2:] for row in rows]
    click.echo(_table(headers, rows) if rows else "no projects configured")


def _is_rejected(sagemaker: Any, package_arn: str) -> bool:
    """The version is Rejected now (a version deleted since is not: it cannot say)."""
    try:
        package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    except ClientError as exc:
        if aws.is_not_found(exc):
            return False
        raise
    return package.get("ModelApprovalStatus") == "Rejected"


def GROUP_ARGUMENT(command: Callable[..., Any]) -> Callable[..., Any]:
    """GROUP (and `--config-dir`) for a command that reads a group's records: an unknown group exits 2.

    Checked before anything else, the ledger table's lookup included: a group outside every team
    of the config is refused at once (as `cleanup --group`). A group under a team's prefix that the
    config no longer lists is still read (a removed project's history and audit trail stay
    readable); the command refuses it only when nothing is recorded for it either (a typo).
    The command gets `group` and `config`.
    """

    @click.argument("group")
    @CONFIG_OPTION
    @functools.wraps(command)
    def checked(*args: Any, group: str, config_dir: str, **kwargs: Any) -> Any:
        config = _config(config_dir)
        _known_groups(config, [group])
        return command(*args, group=group, config=config, **kwargs)

    return checked


@main.command()
@GROUP_ARGUMENT
@LEDGER_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON array of ledger records, for machines.")
def history(group: str, config: RegistryConfig, ledger_table: str, as_json: bool) -> None:
    """The deployment ledger of one group, oldest first (exit 2 for a group the config does not know)."""
    from registry_workflow.ledger import DeploymentLedger

    records = _run(lambda: DeploymentLedger(ledger_table).history(group))
    if not records:  # a group the config does not list, with nothing recorded either: a typo (exit 2)
        _known_groups(config, [group], configured=True)
    if as_json:
        _emit([r.as_dict() for r in records])
        return
    if not records:
        click.echo(f"no deployments recorded for {group}")
        return
    rows = [
        [
            r.created_at,
            f"v{r.version}",
            r.kind,
            r.status,
            r.endpoint,
            r.strategy,
            r.approver or "-",
            r.finished_at or "-",
            r.failure_reason or "",
        ]
        for r in records
    ]
    headers = ["CREATED", "VERSION", "KIND", "STATUS", "ENDPOINT", "STRATEGY", "APPROVED BY", "FINISHED"]
    click.echo(_table([*headers, "REASON"], rows))


@main.command()
@GROUP_ARGUMENT
@LEDGER_OPTION
@click.option("--json", "as_json", is_flag=True, help="The entries as one JSON object, for machines.")
@click.option("--verify", "check", is_flag=True, help="Recompute the hash chain; exit 1 naming the first bad entry.")
def audit(group: str, config: RegistryConfig, ledger_table: str, as_json: bool, check: bool) -> None:
    """The audit trail of one group: every transition of every version, hash-chained.

    registered, validated (result, rules, policy digest), approved / rejected (by whom, why),
    refused (self-approval, not validated, not an allowed approver), queued, deploying, deployed,
    superseded, failed, rolled back. With --verify, every entry's hash and link is recomputed:
    an entry changed, removed or reordered in the table makes the command exit 1, naming it.
    """
    from registry_workflow.audit import AuditTrail

    trail = AuditTrail(ledger_table)
    entries = _run(lambda: trail.entries(group))
    if not entries:  # as in `history`
        _known_groups(config, [group], configured=True)
    report = _run(lambda: trail.verify(group)) if check else None
    if as_json:
        payload: dict[str, Any] = {"group": group, "entries": [e.as_dict() for e in entries]}
        if report is not None:
            payload["verify"] = report.as_dict()
        click.echo(json.dumps(payload, indent=2))
    elif not entries:
        click.echo(f"no audit entries for {group}")
    else:
        rows = [
            [e.seq, e.time, f"v{e.version}" if e.version is not None else "-", e.kind, e.actor or "-", e.reason or ""]
            for e in entries
        ]
        click.echo(_table(["#", "TIME", "VERSION", "WHAT", "WHO", "WHY"], rows))
    if report is None:
        return
    if not report.ok:
        message = f"audit trail of {group} does not verify: entry {report.first_bad_seq}: {report.problem}"
        if as_json:
            click.echo(message, err=True)
            sys.exit(1)
        raise click.ClickException(message)
    if not as_json:
        click.echo(f"\nchain verified: {report.entries} entries, head {report.head_hash or '-'}")


# --- report: one HTML page people can open ------------------------------------------------------


@main.command()
@click.argument("groups", nargs=-1)
@CONFIG_OPTION
@LEDGER_OPTION
@click.option(
    "--out",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the HTML file.",
)
def report(groups: tuple[str, ...], config_dir: str, ledger_table: str, out: str) -> None:
    """Write one self-contained HTML report: what is live where, every version's timeline, metric charts.

    Without GROUP: every configured group and every group with an audit trail. Reads the ledger
    table, the audit trail, the versions' validation stamps (DescribeModelPackage) and the policy
    thresholds in config; the page needs no network and no JavaScript to be read.
    """
    from registry_workflow.report import collect, write

    data = _run(lambda: collect(groups, _config(config_dir), ledger_table))
    path = write(data, out)
    notes = sum(len(p.notes) for p in data.projects) + len(data.notes)
    click.echo(f"report written: {path.resolve()} ({len(data.projects)} project(s), {notes} gap(s) noted)")


if __name__ == "__main__":  # pragma: no cover
    main()
