"""The HTML report against moto: what it reads from the ledger, the audit trail and SageMaker, and bad input.

An empty ledger, a group with no versions, versions without metrics and names carrying HTML all
render a page that escapes everything and says, in words, what is missing.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SEED_ENV
from deploy_support import (
    ENDPOINT,
    GROUP,
    LEDGER_TABLE,
    METRICS_BUCKET,
    POLICY,
    DeployWorld,
    endpoint_event,
    live_version,
    register_version,
    set_approval,
    validate_as_the_validator,
)
from markupsafe import escape
from registry_workflow import audit, aws, report
from registry_workflow.cli import main
from registry_workflow.config import load_config, parse_config
from registry_workflow.ledger import Deployment, DeploymentStatus

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


def recreate_with_the_old_v1_live(
    world: DeployWorld, deployer: Any, tracker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old group's v1 live, the group deleted and created again, its new v1 approved, not deployed."""
    # the old group's v1 (auc 0.95) validated, approved and live; its audit entries written
    # an hour back (the trail's clock is set explicitly: they predate the new v1 without a sleep)
    write_policy(THRESHOLDS)
    with monkeypatch.context() as clock:
        clock.setattr(audit, "_now", lambda: (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        old = register_version(world.sagemaker, validated=False)
        aws.client("s3").put_object(
            Bucket=METRICS_BUCKET, Key=f"{GROUP}/v1/statistics.json", Body=json.dumps({"auc": 0.95})
        )
        validate_as_the_validator(world.sagemaker, old)
        assert deployer(set_approval(world.sagemaker, old, "Approved"))["action"] == "started"
        assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    # the group deleted (its version first) and created again: a new v1 under the same ARN
    # (auc 0.9), validated and approved, never deployed: the endpoint still serves the old v1
    world.sagemaker.delete_model_package(ModelPackageName=old)
    world.sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    new = register_version(world.sagemaker)
    assert new == old
    set_approval(world.sagemaker, new, "Approved")


def test_a_recreated_groups_v1_is_not_merged_with_the_deleted_groups_v1(
    world: DeployWorld, deployer: Any, tracker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the old group's v1 (auc 0.95) live, the group recreated, its new v1 (auc 0.9) approved
    recreate_with_the_old_v1_live(world, deployer, tracker, monkeypatch)

    # WHEN the report is collected and rendered
    data = report.collect([GROUP], load_config(), LEDGER_TABLE)
    page = report.render(data)

    # THEN v1 has two rows: the deleted group's first, with its own entries and metrics
    (project,) = data.projects
    assert [(v.version, v.earlier) for v in project.versions] == [(1, True), (1, False)]
    earlier, current = project.versions
    assert current.created is not None
    assert earlier.created is None
    assert {"validated", "approved", "deployed"} <= {e.kind for e in earlier.entries}
    assert earlier.metrics["auc"] == pytest.approx(0.95)
    # AND the current v1 holds only the new v1's entries and its own stamp
    assert [e.kind for e in current.entries] == ["validated"]
    assert current.metrics["auc"] == pytest.approx(0.9)
    assert current.approval_status == "Approved"
    # AND the champion is the current v1; the old v1, still on the endpoint, is the live row
    assert project.champion_view is current
    assert project.is_live(earlier)
    assert not project.is_live(current)
    assert (
        "v1 appears twice: the group was deleted and created again; rows marked 'earlier' are the deleted group's"
        in (project.notes)
    )
    section = project_section(page, GROUP)
    assert '<tr data-version="1" data-incarnation="earlier"><td>v1 (earlier group, deleted) ● live</td>' in section
    assert '<tr data-version="1"><td>v1 ★ champion</td>' in section
    assert section.count('data-incarnation="earlier"') == 1 + len(earlier.entries)  # its version row and timeline
    live_row = re.search(r'<table id="live-table">.*?</table>', page, re.S)
    assert live_row
    assert "<td>v1 (earlier group, deleted)</td>" in live_row.group(0)
    # AND the chart tells the two v1s apart on its x axis
    assert "v1 (earlier)" in section.split('data-metric="auc"', 1)[1]


def test_an_earlier_v1_still_live_has_its_row_even_without_audit_entries(
    world: DeployWorld, deployer: Any, tracker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the old v1 live after the group was recreated, and an audit trail that holds nothing
    # of it (written before the trail existed): only the ledger knows the old v1
    recreate_with_the_old_v1_live(world, deployer, tracker, monkeypatch)
    monkeypatch.setattr(report.AuditTrail, "entries", lambda self, group: [])

    data = report.collect([GROUP], load_config(), LEDGER_TABLE)

    # THEN the live table does not name the new v1: the old one has its own (entry-less) row
    (project,) = data.projects
    assert [(v.version, v.earlier) for v in project.versions] == [(1, True), (1, False)]
    earlier, current = project.versions
    assert (project.is_live(earlier), project.is_live(current)) == (True, False)
    assert project.live_label(project.endpoints[0]) == "v1 (earlier group, deleted)"
    assert "no audit entries" in project_section(report.render(data), GROUP)


def _live(version: int, package_created: str | None, created_at: str) -> report.EndpointView:
    record = Deployment(
        deployment_id="d-1",
        endpoint=ENDPOINT,
        group=GROUP,
        version=version,
        package_arn=f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/{version}",
        model_name="m",
        endpoint_config_name="c",
        strategy="all-at-once",
        status=DeploymentStatus.SUCCEEDED,
        package_created=package_created,
        created_at=created_at,
    )
    return report.EndpointView(ENDPOINT, live=record, in_flight=[], queued=[])


#: a ledger record made after the current v1 was created (2026-03-01T12:00:00.123456Z)
LATER = "2026-03-05T00:00:00.000000Z"


@pytest.mark.parametrize(
    ("package_created", "live_row", "created_at"),
    [
        ("2026-03-01T12:00:00.123000+00:00", "current", LATER),  # the current v1's CreationTime, to the ms
        ("2026-03-01T12:00:00.123Z", "current", LATER),
        (None, "current", LATER),  # a record from before package_created was kept, made after the current v1
        ("", "current", LATER),
        ("", "earlier", "2026-02-01T09:30:00.000000Z"),  # such a record made before the current v1 existed
        (None, "current", ""),  # neither time known: the current row, as before
        ("2026-02-01T09:00:00+00:00", "earlier", LATER),  # older than the current v1: the deleted group's
        ("2026-03-02T00:00:00+00:00", None, LATER),  # a v1 created after the current one: neither row
    ],
)
def test_a_live_record_marks_the_incarnation_its_creation_time_names(
    package_created: str | None, live_row: str | None, created_at: str
) -> None:
    created = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    earlier = report.VersionView(1, earlier=True)
    current = report.VersionView(1, approval_status="Approved", created=created)
    project = report.ProjectView(GROUP, endpoints=[_live(1, package_created, created_at)], versions=[earlier, current])

    assert [project.is_live(v) for v in (earlier, current)] == [live_row == "earlier", live_row == "current"]
    assert project.champion_view is current
    expected = {"earlier": "v1 (earlier group, deleted)", "current": "v1", None: "v1"}[live_row]
    assert project.live_label(project.endpoints[0]) == expected


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


def test_an_entry_goes_by_the_creation_time_it_records_not_by_the_clock_that_wrote_it(
    world: DeployWorld, deployer: Any, tracker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the old group's v1 live, the group recreated, its new v1 approved
    recreate_with_the_old_v1_live(world, deployer, tracker, monkeypatch)
    new = world.sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"][0]
    created = world.sagemaker.describe_model_package(ModelPackageName=new["ModelPackageArn"])["CreationTime"]
    trail = audit.AuditTrail(LEDGER_TABLE)
    behind = (created - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with monkeypatch.context() as clock:
        # a Lambda whose clock runs 5 minutes behind SageMaker's writes about the new v1
        clock.setattr(audit, "_now", lambda: behind)
        trail.record(
            GROUP,
            "refused",
            key="skewed",
            version=1,
            package_arn=new["ModelPackageArn"],
            reason="about the new v1",
            created=created.isoformat(),
        )
        # an entry written before entries recorded the CreationTime, at the same time: by its time
        trail.record(
            GROUP,
            "refused",
            key="legacy",
            version=1,
            package_arn=new["ModelPackageArn"],
            reason="written before the new v1 existed",
        )

    (project,) = report.collect([GROUP], load_config(), LEDGER_TABLE).projects
    earlier, current = project.versions
    assert "about the new v1" in [e.reason for e in current.entries]
    assert "written before the new v1 existed" in [e.reason for e in earlier.entries]
    assert "about the new v1" not in [e.reason for e in earlier.entries]


def test_every_entry_about_a_version_records_its_creation_time(
    world: DeployWorld, deployer: Any, tracker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the registration, validation, approval and deployment of a version, through the handlers
    recreate_with_the_old_v1_live(world, deployer, tracker, monkeypatch)
    entries = [e for e in audit.AuditTrail(LEDGER_TABLE).entries(GROUP) if e.version is not None]
    assert {e.kind for e in entries} >= {"validated", "approved", "deploying", "deployed"}
    assert all(e.details.get("created") for e in entries), [(e.kind, e.details) for e in entries]
