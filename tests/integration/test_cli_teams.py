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


def _deployed_stack(teams: str, guarded: str) -> None:
    """A stack with the template's two parameters, as `make deploy` leaves them."""
    import json as _json

    from registry_workflow import aws

    template = {
        "Parameters": {
            "ManagedTeams": {"Type": "CommaDelimitedList"},
            "GuardedStages": {"Type": "CommaDelimitedList"},
        },
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
    aws.client("cloudformation").create_stack(
        StackName="registry-workflow-dev",
        TemplateBody=_json.dumps(template),
        Parameters=[
            {"ParameterKey": "ManagedTeams", "ParameterValue": teams},
            {"ParameterKey": "GuardedStages", "ParameterValue": guarded},
        ],
    )


def test_provision_with_a_stack_refuses_a_team_it_was_not_deployed_for(sagemaker: Any, config_dir: Any) -> None:
    _deployed_stack("rc", "production")

    refused = run("provision", "--stack-name", "registry-workflow-dev")

    assert refused.exit_code == 2
    assert "team algo is in config/.env.shared but not in the stack's ManagedTeams (rc)" in refused.stderr
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


def test_provision_with_a_stack_refuses_a_stage_it_does_not_guard(sagemaker: Any, config_dir: Any) -> None:
    _deployed_stack("rc,algo", "production")
    policy = config_dir / "policy.toml"
    policy.write_text(
        policy.read_text()
        + '\n[[projects."rc-fraud-detection".stages]]\nname = "staging"\n'
        + '\n[[projects."rc-fraud-detection".stages]]\nname = "prod"\n'
    )

    refused = run("provision", "--stack-name", "registry-workflow-dev")

    assert refused.exit_code == 2
    assert "stage prod is guarded in policy.toml (rc-fraud-detection) but not in the stack's GuardedStages" in (
        refused.stderr
    )
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


def test_provision_with_a_matching_stack_creates_the_groups(sagemaker: Any, config_dir: Any) -> None:
    _deployed_stack("rc,algo", "production")

    done = run("provision", "--stack-name", "registry-workflow-dev")

    assert done.exit_code == 0, done.stderr
    assert len(sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]) == 3
    missing = run("provision", "--stack-name", "no-such-stack")
    assert missing.exit_code == 2
    assert "stack no-such-stack not found in this account and region" in missing.stderr


def test_provision_with_a_stack_that_is_not_ours_checks_nothing_and_says_so(sagemaker: Any, config_dir: Any) -> None:
    from registry_workflow import aws

    template = '{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}'
    aws.client("cloudformation").create_stack(StackName="someone-elses", TemplateBody=template)

    refused = run("provision", "--stack-name", "someone-elses")

    assert refused.exit_code == 2
    assert "has no ManagedTeams or GuardedStages parameter: is it a registry-workflow stack?" in refused.stderr
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


def test_provision_ignores_the_stack_name_the_ledger_commands_read(
    sagemaker: Any, config_dir: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("STACK_NAME", "not-deployed-yet")  # exported for `status`/`history`
    assert run("provision").exit_code == 0  # the seed's flow: provision before the first deploy
