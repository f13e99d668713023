"""The CLI's side of team scoping and adoption: `teams` feeds the template, verify and provision agree."""

from __future__ import annotations

import json
import re
from typing import Any

from click.testing import CliRunner
from registry_workflow.cli import main


def run(*args: str) -> Any:
    return CliRunner(mix_stderr=False).invoke(main, list(args), catch_exceptions=False)


def test_teams_prints_the_template_parameter(config_dir: Any) -> None:
    assert run("teams").output.strip() == "rc,algo"


def test_verify_says_to_provision_and_provision_adopts(sagemaker: Any, config_dir: Any) -> None:
    run("provision")
    sagemaker.delete_model_package_group(ModelPackageGroupName="rc-fraud-detection")
    sagemaker.create_model_package_group(ModelPackageGroupName="rc-fraud-detection")  # by someone else

    before = run("verify")
    assert before.exit_code == 1
    assert "registry-workflow provision" in before.output
    assert "Run `registry-workflow provision`" in before.stderr

    adopted = run("provision")
    assert re.search(r"rc-fraud-detection\s+adopted", adopted.output)
    assert "1 adopted" in adopted.output

    assert run("verify").exit_code == 0


def test_guarded_stages_prints_the_template_parameter(config_dir: Any) -> None:
    # the seed's projects have no stages: the template's default, so the parameter is never empty
    assert run("guarded-stages").output.strip() == "production"
    policy = config_dir / "policy.toml"
    policy.write_text(
        policy.read_text()
        + '\n[[projects."rc-fraud-detection".stages]]\nname = "staging"\n'
        + '\n[[projects."rc-fraud-detection".stages]]\nname = "prod"\n'
    )
    assert run("guarded-stages").output.strip() == "prod"
    assert json.loads(run("guarded-stages", "--json").output) == [{"stage": "prod", "groups": ["rc-fraud-detection"]}]
