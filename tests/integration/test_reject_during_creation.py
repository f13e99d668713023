"""Rejecting the only version while its endpoint is being created (issue 16, part 5), as the README does:
one accurate message, once it is live; `status` marks it rejected; `history` calls the creation one."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from deploy_support import (
    ENDPOINT,
    GROUP,
    DeployWorld,
    endpoint_event,
    register_version,
    set_approval,
    set_endpoint_status,
)
from registry_workflow.cli import main

pytest_plugins = ["deploy_support"]

STILL_LIVE = f"{GROUP} v1: rejected but still live: nothing to roll back to"


def run(*args: str) -> Any:
    return CliRunner(mix_stderr=False).invoke(main, list(args))


def test_rejected_while_created_says_so_once_it_is_live(world: DeployWorld, deployer: Any, tracker: Any) -> None:
    # GIVEN v1 approved and its endpoint being created (the project's strategy is a canary)
    v1 = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, v1, "Approved"))["action"] == "started"
    set_endpoint_status(ENDPOINT, "Creating")

    # WHEN a reviewer rejects it while it is Creating
    rejected = deployer(set_approval(world.sagemaker, v1, "Rejected", "calibration is off"))

    # THEN nothing is said yet: it is not live, and may never be
    assert rejected["action"] == "no_rollback_target"
    assert STILL_LIVE not in world.titles()

    # WHEN the endpoint is in service
    set_endpoint_status(ENDPOINT, "InService")
    closed = tracker(endpoint_event(world.sagemaker))

    # THEN people are told once: it is live, rejected, with nothing to roll back to
    assert closed["action"] == "succeeded"
    assert world.titles().count(STILL_LIVE) == 1


def test_status_marks_a_rejected_live_version_and_history_names_the_creation(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v1 created (canary policy: a creation has no canary) and rejected once live
    v1 = register_version(world.sagemaker)
    deployer(set_approval(world.sagemaker, v1, "Approved"))
    tracker(endpoint_event(world.sagemaker))
    deployer(set_approval(world.sagemaker, v1, "Rejected", "calibration is off"))

    status = run("status")
    document = json.loads(run("status", "--json").output)
    history = json.loads(run("history", GROUP, "--json").output)

    # THEN status shows it live and rejected, in the table and in JSON
    (line,) = [row for row in status.output.splitlines() if row.startswith(f"{GROUP} ")]
    assert "v1 (rejected)" in line
    live = next(row for row in document if row["group"] == GROUP)["live"]
    assert (live["version"], live["rejected"]) == (1, True)
    # AND history says the endpoint was created, not canaried
    assert [(r["version"], r["kind"], r["strategy"]) for r in history] == [(1, "deploy", "create")]
