"""The operations dashboard: every widget shows something that exists.

The template is rendered as CloudFormation would deploy it; each RegistryWorkflow metric on the
dashboard must be one the code publishes (every `add_metric` call of the shared package, read
from its source), in the namespace and with the dimension Powertools gives it; each AWS metric
must name a resource of the stack; the alarm widget must show every alarm the stack creates.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from typing import Any

import pytest
from conftest import REPO
from registry_workflow.observability import NAMESPACE, SERVICE
from template_render import config_env, render

PACKAGE = REPO / "layers" / "registry_workflow" / "registry_workflow"


@cache
def dashboard() -> tuple[dict[str, Any], dict[str, Any]]:
    rendered = render(config_env(2, 3), stand_ins=False)
    (resource,) = [r for r in rendered.resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = resource["Properties"]["DashboardBody"]
    # Fn::ToJsonString (AWS::LanguageExtensions) turns this object into the body's JSON string
    assert set(body) == {"Fn::ToJsonString"}
    return resource["Properties"], rendered.processed


def widgets(kind: str) -> list[dict[str, Any]]:
    return [w for w in dashboard()[0]["DashboardBody"]["Fn::ToJsonString"]["widgets"] if w["type"] == kind]


def widget_metrics() -> list[list[Any]]:
    """Every metric line of every metric widget (expressions left out), "." expanded."""
    lines = []
    for widget in widgets("metric"):
        previous: list[Any] = []
        for line in widget["properties"]["metrics"]:
            if isinstance(line[0], dict):  # a metric-math expression
                continue
            plain = [x for x in line if not isinstance(x, dict)]
            plain = [previous[i] if x == "." else x for i, x in enumerate(plain)]
            lines.append(plain)
            previous = plain
    return lines


@cache
def published() -> tuple[set[str], list[re.Pattern[str]]]:
    """Names passed to `add_metric` anywhere in the package: exact ones, and f-string patterns."""
    exact: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric"):
                continue
            name = next((k.value for k in node.keywords if k.arg == "name"), node.args[0] if node.args else None)
            if isinstance(name, ast.Constant):
                exact.add(name.value)
            elif isinstance(name, ast.JoinedStr):
                # f"Versions{action.capitalize()}": a capitalised word where the value goes
                parts = [re.escape(p.value) if isinstance(p, ast.Constant) else "[A-Z][a-z]+" for p in name.values]
                patterns.append(re.compile("".join(parts)))
            else:
                pytest.fail(f"{path.name}:{node.lineno}: add_metric with a name this test cannot read")
    return exact, patterns


def is_published(name: str) -> bool:
    exact, patterns = published()
    return name in exact or any(p.fullmatch(name) for p in patterns)


def test_the_dashboard_is_named_with_the_stage() -> None:
    assert dashboard()[0]["DashboardName"] == "registry-workflow-dev-operations"


def test_every_workflow_metric_on_the_dashboard_is_published_by_the_code() -> None:
    ours = [line for line in widget_metrics() if line[0] == NAMESPACE]
    assert ours, "the dashboard shows none of the workflow's own metrics"
    for _namespace, name, *dimensions in ours:
        # Powertools publishes with the one default dimension service=<service>
        assert dimensions == ["service", SERVICE], name
        assert is_published(name), f"{name}: on the dashboard, but nothing calls add_metric with it"


def test_the_workflow_views_the_issue_asks_for_are_there() -> None:
    names = {line[1] for line in widget_metrics()}
    wanted = {
        "EventsIgnored",
        "MalformedEvents",
        "ValidationsPassed",
        "ValidationsFailed",
        "DeploymentsStarted",
        "DeploymentsSucceeded",
        "DeploymentsFailed",
        "DeploymentsRolledBack",
        "DeploymentDuration",
        "DeploymentsQueued",
        "ApprovalsRefused",
        "Invocations",
        "Errors",
        "Throttles",
        "ApproximateNumberOfMessagesVisible",
    }
    assert wanted <= names, wanted - names
    stats = {
        line[-1].get("stat")
        for w in widgets("metric")
        for line in w["properties"]["metrics"]
        if "DeploymentDuration" in line
    }
    assert stats == {"p50", "p95"}


def test_aws_metrics_name_the_stacks_own_functions_and_queues() -> None:
    processed = dashboard()[1]["Resources"]
    functions = {k for k, v in processed.items() if v["Type"] == "AWS::Lambda::Function"}
    queues = {f"{k}" for k, v in processed.items() if v["Type"] == "AWS::SQS::Queue"}
    lambda_lines = [line for line in widget_metrics() if line[0] == "AWS/Lambda"]
    sqs_lines = [line for line in widget_metrics() if line[0] == "AWS/SQS"]
    # the twin's resolver names a function by its logical id and a queue by its local name
    assert {line[3] for line in lambda_lines} == functions
    assert len({line[3] for line in sqs_lines}) == len(queues) == 7
    assert all(line[2] == "FunctionName" for line in lambda_lines)
    assert all(line[2] == "QueueName" for line in sqs_lines)


def test_expressions_only_use_series_of_their_widget() -> None:
    for widget in widgets("metric"):
        ids = {
            line[-1]["id"]
            for line in widget["properties"]["metrics"]
            if isinstance(line[-1], dict) and "id" in line[-1]
        }
        for line in widget["properties"]["metrics"]:
            if isinstance(line[0], dict) and "expression" in line[0]:
                used = set(re.findall(r"\b[a-z][a-zA-Z0-9_]*\b", line[0]["expression"])) - {"handled"}
                assert used - {"SUM", "FILL"} <= ids, used - ids


def test_the_alarm_widget_shows_every_alarm_of_the_stack() -> None:
    processed = dashboard()[1]["Resources"]
    alarms = {k for k, v in processed.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    (widget,) = widgets("alarm")
    shown = {arn.rsplit(":", 1)[-1] for arn in widget["properties"]["alarms"]}
    assert shown == alarms


def test_the_log_widget_queries_what_the_handlers_log() -> None:
    (widget,) = widgets("log")
    query = widget["properties"]["query"]
    intake = (PACKAGE / "handlers" / "intake.py").read_text()
    for message in re.findall(r"message = '([^']+)'", query):
        assert f'"{message}"' in intake, message
    assert query.count("SOURCE '") == 4


def test_the_output_is_the_dashboards_console_url_in_the_stacks_partition() -> None:
    processed = dashboard()[1]
    output = processed["Outputs"]["OperationsDashboardUrl"]["Value"]["Fn::Sub"]
    url, variables = output
    assert url.startswith("https://${AWS::Region}.${Console}/cloudwatch/home?region=${AWS::Region}#dashboards:name=")
    assert url.endswith("${OperationsDashboard}")
    assert variables["Console"] == {"Fn::FindInMap": ["ConsoleDomain", {"Ref": "AWS::Partition"}, "Domain"]}
    domains = processed["Mappings"]["ConsoleDomain"]
    assert domains["aws"]["Domain"] == "console.aws.amazon.com"
    assert set(domains) == {"aws", "aws-cn", "aws-us-gov"}
