"""template.yaml: stays in step with the config, scoped IAM, every rule wired with retries and a DLQ."""

from __future__ import annotations

from typing import Any

from conftest import REPO
from registry_workflow.config import load_config
from registry_workflow.local.template import expand_for_each, list_parameters, load_template, read_template


def raw_template() -> dict[str, Any]:
    """template.yaml as written, its Fn::ForEach loops expanded over the parameter defaults."""
    raw = read_template(REPO / "template.yaml")
    defaults = {k: str(v.get("Default", "")) for k, v in raw["Parameters"].items()}
    return expand_for_each(raw, list_parameters(raw, defaults))


def test_managed_teams_default_matches_the_shipped_config() -> None:
    default = raw_template()["Parameters"]["ManagedTeams"]["Default"]
    assert default.split(",") == load_config(REPO / "config").teams


def test_samconfig_deploys_the_shipped_config_teams() -> None:
    """`sam deploy [--guided]` takes ManagedTeams from samconfig.toml: it must say what config says."""
    import tomllib

    samconfig = tomllib.loads((REPO / "samconfig.toml").read_text())
    teams = ",".join(load_config(REPO / "config").teams)
    for env in ("default", "dev", "prod"):
        overrides = samconfig[env]["deploy"]["parameters"]["parameter_overrides"]
        assert f"ManagedTeams={teams}" in overrides.split(), env
        assert f"GuardedStages={load_config(REPO / 'config').guarded_stages_parameter}" in overrides.split(), env


def test_runtime_is_python312_and_layers_are_built_by_sam() -> None:
    template = raw_template()
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert template["Resources"]["SharedLayer"]["Metadata"]["BuildMethod"] == "makefile"  # test_lambda_packages.py


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for resource in template["Resources"].values():
        for policy in (resource.get("Properties") or {}).get("Policies") or []:
            if isinstance(policy, dict) and "Statement" in policy:
                found.extend(policy["Statement"])
    return found


def test_no_sagemaker_wildcard_actions() -> None:
    for statement in _statements(raw_template()):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if a.endswith(":*") or a == "*"], statement


def test_every_function_has_a_log_group_and_an_on_failure_destination() -> None:
    resources = raw_template()["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        assert "LoggingConfig" in props, logical_id
        assert props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS", logical_id


def test_every_rule_has_retry_policy_and_dead_letter_queue() -> None:
    template = load_template(REPO / "template.yaml")
    for rule in template.rules:
        assert rule.retry_attempts is not None, rule.name
        assert rule.dead_letter, rule.name


def test_every_queue_is_encrypted_and_alarmed() -> None:
    resources = raw_template()["Resources"]
    queues = [k for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"]
    alarmed = {
        r["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("Namespace") == "AWS/SQS"
    }
    assert queues
    for queue in queues:
        assert resources[queue]["Properties"].get("SqsManagedSseEnabled") is True, queue
        assert queue in alarmed, queue


def test_handlers_exist_where_the_template_says() -> None:
    template = load_template(REPO / "template.yaml")
    for function in template.functions.values():
        assert function.module_path.is_file(), function.module_path


def test_every_wildcard_resource_says_why() -> None:
    """A `Resource: "*"` is allowed only for actions without resource-level permissions, and the
    line above it must be a comment saying so."""
    lines = (REPO / "template.yaml").read_text().splitlines()
    spellings = {'Resource: "*"', "Resource: '*'", "Resource: *"}
    wildcard = [i for i, line in enumerate(lines) if line.strip() in spellings]
    for index in wildcard:
        context = lines[max(0, index - 3) : index]
        has_reason = any(line.strip().startswith("#") for line in context)
        assert has_reason, f"template.yaml:{index + 1}: a wildcard resource without a comment saying why"


# Actions that have no resource-level permissions (Service Authorization Reference): "*" is the
# only valid resource for them.
NO_RESOURCE_LEVEL = {
    "sagemaker:ListModelPackageGroups",
    "sagemaker:ListModelPackages",
    "sagemaker:ListEndpoints",
    "cloudwatch:PutMetricData",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def test_wildcard_resources_only_for_actions_without_resource_level_permissions() -> None:
    for statement in _statements(raw_template()):
        if statement.get("Resource") != "*":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert set(actions) <= NO_RESOURCE_LEVEL, statement
