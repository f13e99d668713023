"""The HTML report against moto: what it reads from the ledger, the audit trail and SageMaker, and bad input.

An empty ledger, a group with no versions, versions without metrics and names carrying HTML all
render a page that escapes everything and says, in words, what is missing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SEED_ENV
from deploy_support import (
    ENDPOINT,
    GROUP,
    LEDGER_TABLE,
    POLICY,
    DeployWorld,
    endpoint_event,
    live_version,
    register_version,
    set_approval,
)
from markupsafe import escape
from registry_workflow import report
from registry_workflow.cli import main
from registry_workflow.config import load_config, parse_config

pytest_plugins = ["deploy_support"]

HOSTILE = '<img src=x onerror="alert(1)">'
THRESHOLDS = """
[defaults.validation]
min = { auc = 0.8 }
max_regression = { auc = 0.05 }
"""
#: a metric nobody reports, whose name is HTML: every version fails on it (nothing is deployed)
HOSTILE_THRESHOLDS = f"""
[defaults.validation]
min = {{ auc = 0.8, '{HOSTILE}' = 0.5 }}
"""


def write_policy(extra: str) -> None:
    (Path(os.environ["REGISTRY_CONFIG_DIR"]) / "policy.toml").write_text(POLICY + extra)


def project_section(page: str, group: str) -> str:
    match = re.search(
        rf'<section class="project" id="p-\d+" data-group="{re.escape(group)}">(.*?)</section>', page, re.S
    )
    assert match, f"no section for {group}"
    return match.group(1)


def test_a_deployed_rolled_back_group_shows_live_timeline_and_charts(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v1 live, v2 deployed then rejected by a reviewer with a reason holding HTML: rolled back to v1
    write_policy(THRESHOLDS)
    live_version(world, deployer, tracker)
    v2 = live_version(world, deployer, tracker)
    deployer(set_approval(world.sagemaker, v2, "Rejected", description="<script>alert('x')</script> drift"))
    tracker(endpoint_event(world.sagemaker))

    # WHEN the report is collected and rendered
    data = report.collect([GROUP], load_config(), LEDGER_TABLE)
    page = report.render(data)

    # THEN v1 is live on the endpoint, v1 is the champion, and every version is in the tables
    (project,) = data.projects
    (endpoint,) = project.endpoints
    assert endpoint.endpoint == ENDPOINT
    assert endpoint.live is not None
    assert endpoint.live.version == 1
    assert project.champion == 1
    assert [v.version for v in project.versions] == [1, 2]
    assert project.versions[0].metrics["auc"] == pytest.approx(0.9)
    section = project_section(page, GROUP)
    assert '<tr data-version="1"><td>v1 ★ champion ● live</td>' in section
    kinds = [e.kind for e in project.versions[1].entries]
    assert kinds[0] == "validated"  # "registered" is the validator handler's, not run here
    assert {"approved", "deployed", "rejected", "rolled_back"} <= set(kinds)
    # the charts: one per policy metric, with the threshold and the champion in the legend
    assert section.count("<svg") == 1
    assert 'data-metric="auc"' in section
    assert "min 0.8" in section
    assert "champion v1" in section
    assert "regression floor 0.85 (v1)" in section
    # nothing hostile survives: the reason is shown, escaped
    assert "<script>" not in page
    assert str(escape("<script>alert('x')</script> drift")) in page
    # nothing loaded from the network, no script (pygal's comments name its home page: not a load)
    assert not re.search(r"<script|<link|<img|<iframe|(?:src|href)=\"(?!#)|url\(|@import", page)


def test_versions_without_metrics_and_groups_without_versions_are_said_to_be(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN a policy on auc, v1 registered before it (its stamp has no auc), v2 after it, and a
    # policy metric nobody reports whose name is HTML
    register_version(world.sagemaker)
    write_policy(HOSTILE_THRESHOLDS)
    register_version(world.sagemaker)

    data = report.collect([], load_config(), LEDGER_TABLE)
    page = report.render(data)

    # THEN every configured group is there; what is missing is said in words
    groups = [p.group for p in data.projects]
    assert groups == list(load_config().group_names)
    fraud = next(p for p in data.projects if p.group == GROUP)
    assert "metric auc missing for v1 (no validation stamp or audit entry with it)" in fraud.notes
    assert "nothing live: no deployment has succeeded yet" in fraud.notes
    empty = next(p for p in data.projects if p.group == "algo-recommendation-engine")
    assert empty.notes == ["no versions registered"]
    assert "no versions registered" in project_section(page, "algo-recommendation-engine")
    assert f"metric {HOSTILE} missing for v1, v2 (no validation stamp or audit entry with it)" in fraud.notes
    # a chart per policy metric, even one no version reports (it says so in the notes)
    assert project_section(page, GROUP).count("<svg") == 2
    # the hostile name is shown as text everywhere: table header, notes, chart title and legend
    assert HOSTILE not in page
    assert "<img" not in page
    assert page.count("&lt;img src=x onerror=") >= 3


def test_a_group_nobody_configured_is_shown_without_thresholds(world: DeployWorld) -> None:
    data = report.collect(["rc-not-configured"], load_config(), LEDGER_TABLE)
    (project,) = data.projects
    assert not project.configured
    assert project.notes == ["not in config/.env.shared: no policy thresholds to show", "no versions registered"]
    assert "no policy thresholds to show" in report.render(data)


def test_an_empty_ledger_with_no_groups_renders_a_page_that_says_so(world: DeployWorld) -> None:
    nothing = parse_config("ENABLE_MODEL_REGISTRY=false\n")
    data = report.collect([], nothing, LEDGER_TABLE)
    page = report.render(data)
    assert data.projects == []
    assert "no groups: nothing is configured and the ledger holds no audit trail" in page
    assert page.startswith("<!DOCTYPE html>")


def test_the_cli_writes_the_file_and_names_it(world: DeployWorld, deployer: Any, tracker: Any, tmp_path: Path) -> None:
    live_version(world, deployer, tracker)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        [
            "report",
            GROUP,
            "--out",
            str(out),
            "--ledger-table",
            LEDGER_TABLE,
            "--config-dir",
            os.environ["REGISTRY_CONFIG_DIR"],
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"report written: {out.resolve()} (1 project(s)" in result.output
    assert 'data-group="rc-fraud-detection"' in out.read_text()


def test_seed_config_is_what_the_tests_use() -> None:
    # the groups these tests name are the seed's (conftest.SEED_ENV)
    assert GROUP in parse_config(SEED_ENV).group_names
