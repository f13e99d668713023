"""`registry-workflow`: the operator's commands (the seed's shell scripts, and more).

Every command talks to whatever the current credentials and `AWS_ENDPOINT_URL` point at, so the
same commands work against AWS and against `registry-workflow local`.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.config import CONFIG_DIR_ENV, RegistryConfig, load_config
from registry_workflow.errors import ConfigError, RegistryWorkflowError

CONFIG_OPTION = click.option(
    "--config-dir",
    envvar=CONFIG_DIR_ENV,
    default="config",
    show_default=True,
    type=click.Path(file_okay=False),
    help=f"Directory holding .env.shared and policy.toml (env: {CONFIG_DIR_ENV}).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="registry-workflow")
def main() -> None:
    """SageMaker Model Registry as an event-driven approval workflow.

    Uses the current AWS credentials and region; set AWS_ENDPOINT_URL to use a local stand-in
    (see `registry-workflow local`).
    """


def _config(config_dir: str) -> RegistryConfig:
    try:
        return load_config(config_dir)
    except ConfigError as exc:
        raise click.ClickException(f"bad config: {exc}") from exc


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers), line, *(fmt.format(*map(str, row)) for row in rows)])


@main.command()
@CONFIG_OPTION
@click.option("--dry-run", is_flag=True, help="Show what would be created; create nothing.")
def provision(config_dir: str, dry_run: bool) -> None:
    """Create the Model Package Group of every configured project that does not exist yet.

    Runs the provisioner Lambda's own code. Groups are named {team}-{project}, described and
    tagged (team, project, managed-by). A configured group someone else created is adopted
    (tagged managed-by; its versions were already deployed as the config says). Nothing is
    deleted. A re-run on an up-to-date account makes no writes. (The seed's
    01-create-model-groups.sh.)
    """
    from registry_workflow.provisioning import GroupState, reconcile

    config = _config(config_dir)
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
def groups(config_dir: str) -> None:
    """Print the configured group names, comma-separated."""
    click.echo(",".join(_config(config_dir).group_names))


@main.command()
@CONFIG_OPTION
def teams(config_dir: str) -> None:
    """Print the configured team names, comma-separated (the template's ManagedTeams)."""
    click.echo(",".join(_config(config_dir).teams))


@main.command()
@CONFIG_OPTION
def verify(config_dir: str) -> None:
    """Compare the config with the account; exit 1 on drift (the seed's verify.sh).

    Drift is: a configured group that is missing, a configured group created by someone else
    and not adopted yet (`registry-workflow provision` adopts it), a managed group no longer in
    the config, or an unconfigured group under a team's prefix.
    """
    from registry_workflow.provisioning import GroupState
    from registry_workflow.provisioning import verify as verify_groups

    config = _config(config_dir)
    report = _run(lambda: verify_groups(config, aws.client("sagemaker")))
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
    sagemaker = aws.client("sagemaker")
    plan = _run(lambda: plan_cleanup(config, sagemaker, include_unmanaged=include_unmanaged, only=list(groups)))
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


@main.command()
@click.option("--port", default=5000, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
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
    except (RegistryWorkflowError, BotoCoreError, ClientError) as exc:
        raise click.ClickException(str(exc)) from exc


# --- deployments: the ledger ---------------------------------------------------------------------

LEDGER_OPTION = click.option(
    "--ledger-table",
    envvar="LEDGER_TABLE",
    default="LedgerTable",
    show_default=True,
    help="DynamoDB table of the deployment ledger (env: LEDGER_TABLE; the default is the local twin's).",
)


@main.command()
@CONFIG_OPTION
@LEDGER_OPTION
def status(config_dir: str, ledger_table: str) -> None:
    """Per project: the live version on which endpoint, since when, approved by whom; in flight, queued."""
    from registry_workflow.ledger import DeploymentLedger, succeeded_of

    config = _config(config_dir)
    ledger = DeploymentLedger(ledger_table)
    rows = []
    for project in config.projects:
        endpoint = project.endpoint_name
        records = _run(lambda endpoint=endpoint: ledger.for_endpoint(endpoint))
        live = next(iter(succeeded_of(records)), None)
        inflight = [d for d in records if d.status == "in_progress"]
        queued = [d for d in records if d.status == "queued"]
        rows.append(
            [
                project.group_name,
                endpoint,
                f"v{live.version}" if live else "-",
                (live.finished_at or "-") if live else "-",
                (live.approver or "-") if live else "-",
                ", ".join(f"v{d.version} ({d.kind})" for d in inflight) or "-",
                ", ".join(f"v{d.version}" for d in queued) or "-",
            ]
        )
    headers = ["GROUP", "ENDPOINT", "LIVE", "SINCE", "APPROVED BY", "IN FLIGHT", "QUEUED"]
    click.echo(_table(headers, rows) if rows else "no projects configured")


@main.command()
@click.argument("group")
@LEDGER_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON array of ledger records, for machines.")
def history(group: str, ledger_table: str, as_json: bool) -> None:
    """The deployment ledger of one group, oldest first."""
    import json

    from registry_workflow.ledger import DeploymentLedger

    records = _run(lambda: DeploymentLedger(ledger_table).history(group))
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=2))
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
@click.argument("group")
@LEDGER_OPTION
@click.option("--json", "as_json", is_flag=True, help="The entries as one JSON object, for machines.")
@click.option("--verify", "check", is_flag=True, help="Recompute the hash chain; exit 1 naming the first bad entry.")
def audit(group: str, ledger_table: str, as_json: bool, check: bool) -> None:
    """The audit trail of one group: every transition of every version, hash-chained.

    registered, validated (result, rules, policy digest), approved / rejected (by whom, why),
    refused (self-approval, not validated, not an allowed approver), queued, deploying, deployed,
    superseded, failed, rolled back. With --verify, every entry's hash and link is recomputed:
    an entry changed, removed or reordered in the table makes the command exit 1, naming it.
    """
    import json

    from registry_workflow.audit import AuditTrail

    trail = AuditTrail(ledger_table)
    entries = _run(lambda: trail.entries(group))
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


if __name__ == "__main__":  # pragma: no cover
    main()
