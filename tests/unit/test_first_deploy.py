"""`make deploy` (also the first, also GUIDED=1) passes ManagedTeams from config/.env.shared, not a stale list.

samconfig.toml and the template's default carry the shipped config's teams (test_template.py); a
team added to config/.env.shared must reach the stack on the very first deploy, or the provisioner
refuses it (test_first_deploy_mismatch.py). Here `make deploy` runs for real, with a stand-in `sam`
that records its arguments, in a directory whose config names other teams.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import BASE_POLICY, REPO

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A checkout whose config/.env.shared names teams the template's default does not."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / ".env.shared").write_text('TEAMS="risk ml"\nRISK_PROJECTS="credit"\nML_PROJECTS="churn"\n')
    (tmp_path / "config" / "policy.toml").write_text(BASE_POLICY)
    sam = tmp_path / "sam"
    sam.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(tmp_path / "sam-calls"))}\n')
    sam.chmod(0o755)
    return tmp_path


def make_deploy(project: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    venv = REPO / ".venv"
    done = subprocess.run(
        # -o: the venv is up to date (never reinstall it from a test)
        [
            *("make", "--no-print-directory", "-f", str(REPO / "Makefile"), "-o", f"{venv}/.installed", "deploy"),
            *(f"VENV={venv}", f"SAM={project / 'sam'}", f"SAGEMAKER_ROLE_ARN={ROLE}", *extra),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "REGISTRY_CONFIG_DIR"},
    )
    calls = (project / "sam-calls").read_text().splitlines() if (project / "sam-calls").exists() else []
    return done, calls


def test_the_first_deploy_takes_managed_teams_from_the_config(project: Path) -> None:
    done, calls = make_deploy(project, "STAGE=dev")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "ManagedTeams=risk,ml (config/.env.shared)" in done.stdout
    assert calls[0] == "build"
    deploy = calls[1].split()
    assert deploy[:3] == ["deploy", "--config-env", "dev"]
    assert "--guided" not in deploy
    assert "ManagedTeams=risk,ml" in deploy
    assert "GuardedStages=production" in deploy  # no staged project: the template's default
    assert f"SageMakerExecutionRoleArn={ROLE}" in deploy


def test_every_deploy_guards_the_stages_policy_toml_guards(project: Path) -> None:
    (project / "config" / ".env.shared").write_text('TEAMS=risk\nRISK_PROJECTS="credit scoring"\n')
    stages = (
        '\n[[projects."risk-credit".stages]]\nname = "staging"\n\n[[projects."risk-credit".stages]]\nname = "prod"\n'
        '\n[[projects."risk-scoring".stages]]\nname = "qa"\nguarded = true\n'
        '\n[[projects."risk-scoring".stages]]\nname = "production"\nguarded = false\n'
    )
    (project / "config" / "policy.toml").write_text(BASE_POLICY + stages)

    done, calls = make_deploy(project, "STAGE=dev")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "GuardedStages=prod,qa (config/policy.toml)" in done.stdout
    assert "GuardedStages=prod,qa" in calls[1].split()


def test_guided_asks_with_the_configs_teams_as_the_default(project: Path) -> None:
    # sam deploy --guided offers each --parameter-overrides value as the prompt's default
    done, calls = make_deploy(project, "STAGE=prod", "GUIDED=1")

    assert done.returncode == 0, done.stdout + done.stderr
    deploy = calls[1].split()
    assert deploy[:4] == ["deploy", "--config-env", "prod", "--guided"]
    assert "ManagedTeams=risk,ml" in deploy
    assert "Stage=prod" in deploy


def test_a_bad_config_deploys_nothing(project: Path) -> None:
    (project / "config" / ".env.shared").write_text("TEAMS=risk\n")

    done, calls = make_deploy(project)

    assert done.returncode != 0
    assert "RISK_PROJECTS: is not set" in done.stderr
    assert not [call for call in calls if call.startswith("deploy")]
