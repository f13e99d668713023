"""The provisioner as a CloudFormation custom resource: every path answers the stack exactly once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from handler_loader import handler_module


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local stand-in for CloudFormation's pre-signed S3 response URL."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response", received
    server.shutdown()


DEV_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/registry-workflow-dev/1"
PROD_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/registry-workflow-prod/2"


def cfn_event(
    request_type: str, url: str, *, stack: str = DEV_STACK, teams: str | None = None, stages: str | None = None
) -> dict[str, Any]:
    properties = {"ConfigVersion": "arn:aws:lambda:us-east-1:123456789012:layer:config:3"}
    if teams is not None:
        properties["ManagedTeams"] = teams
    if stages is not None:
        properties["GuardedStages"] = stages
    return {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": stack,
        "RequestId": "req-1",
        "LogicalResourceId": "ModelPackageGroups",
        "ResourceType": "Custom::ModelPackageGroups",
        "ResourceProperties": properties,
    }


def test_create_provisions_and_answers_success(
    sagemaker: Any, config_dir: Any, lambda_context: Any, response_url
) -> None:
    url, received = response_url
    handler_module("provisioner").lambda_handler(cfn_event("Create", url), lambda_context)

    assert [r["Status"] for r in received] == ["SUCCESS"]
    assert received[0]["Data"] == {"enabled": "True", "created": "3"}
    assert len(sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]) == 3


def test_delete_keeps_groups_and_answers_success(
    sagemaker: Any, config_dir: Any, lambda_context: Any, response_url
) -> None:
    url, received = response_url
    app = handler_module("provisioner")
    app.lambda_handler(cfn_event("Create", url), lambda_context)

    app.lambda_handler(cfn_event("Delete", url), lambda_context)

    assert [r["Status"] for r in received] == ["SUCCESS", "SUCCESS"]
    assert len(sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]) == 3


def test_bad_config_answers_failed_with_the_reason(
    sagemaker: Any, config_dir: Any, lambda_context: Any, response_url
) -> None:
    url, received = response_url
    (config_dir / ".env.shared").write_text("TEAMS=rc\n")

    handler_module("provisioner").lambda_handler(cfn_event("Update", url), lambda_context)

    assert [r["Status"] for r in received] == ["FAILED"]
    assert "RC_PROJECTS" in received[0]["Reason"]
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


# --- one stack per account and region ------------------------------------------------------------


def claim_owner() -> str | None:
    from registry_workflow import aws
    from registry_workflow.stack_claim import owner_of

    return owner_of(aws.client("ssm"))


def test_first_stack_claims_the_account_and_region(
    sagemaker: Any, config_dir: Any, lambda_context: Any, response_url
) -> None:
    url, received = response_url
    app = handler_module("provisioner")

    app.lambda_handler(cfn_event("Create", url), lambda_context)
    app.lambda_handler(cfn_event("Update", url), lambda_context)  # its own claim: fine

    assert [r["Status"] for r in received] == ["SUCCESS", "SUCCESS"]
    assert claim_owner() == DEV_STACK


def test_second_stack_is_refused_naming_the_owner_and_its_rollback_keeps_the_claim(
    sagemaker: Any, config_dir: Any, lambda_context: Any, response_url
) -> None:
    url, received = response_url
    app = handler_module("provisioner")
    app.lambda_handler(cfn_event("Create", url), lambda_context)
    received.clear()

    # WHEN a prod stack deploys in the same account and region
    app.lambda_handler(cfn_event("Create", url, stack=PROD_STACK), lambda_context)
    # AND CloudFormation rolls it back (Delete of the failed resource)
    app.lambda_handler(cfn_event("Delete", url, stack=PROD_STACK), lambda_context)

    # THEN the create failed naming the owner and the way out, and the dev claim survived
    assert [r["Status"] for r in received] == ["FAILED", "SUCCESS"]
    assert "'registry-workflow-dev'" in received[0]["Reason"]
    assert "aws ssm delete-parameter --name /registry-workflow/owner-stack" in received[0]["Reason"]
    assert claim_owner() == DEV_STACK


def test_deleting_the_owner_releases_the_claim_for_another_stack(
    sagemaker: Any, config_dir: Any, lambda_context: Any, response_url
) -> None:
    url, received = response_url
    app = handler_module("provisioner")
    app.lambda_handler(cfn_event("Create", url), lambda_context)

    app.lambda_handler(cfn_event("Delete", url), lambda_context)
    assert claim_owner() is None
    app.lambda_handler(cfn_event("Create", url, stack=PROD_STACK), lambda_context)

    assert [r["Status"] for r in received] == ["SUCCESS", "SUCCESS", "SUCCESS"]
    assert "released" in received[1]["Reason"]
    assert claim_owner() == PROD_STACK


def test_config_team_not_deployed_fails_the_deploy_clearly_before_any_write(
    sagemaker: Any, config_dir: Any, lambda_context: Any, response_url
) -> None:
    url, received = response_url

    handler_module("provisioner").lambda_handler(cfn_event("Update", url, teams="rc"), lambda_context)

    assert [r["Status"] for r in received] == ["FAILED"]
    assert "team algo is in config/.env.shared but not in the stack's ManagedTeams (rc)" in received[0]["Reason"]
    assert "make deploy" in received[0]["Reason"]
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    assert claim_owner() is None


def test_a_guarded_stage_not_deployed_fails_the_deploy_clearly_before_any_write(
    sagemaker: Any, config_dir: Any, lambda_context: Any, response_url
) -> None:
    url, received = response_url
    policy = config_dir / "policy.toml"
    policy.write_text(
        policy.read_text()
        + '\n[[projects."rc-fraud-detection".stages]]\nname = "staging"\n'
        + '\n[[projects."rc-fraud-detection".stages]]\nname = "prod"\n'
    )

    handler_module("provisioner").lambda_handler(
        cfn_event("Update", url, teams="rc,algo", stages="production"), lambda_context
    )
    assert [r["Status"] for r in received] == ["FAILED"]
    assert (
        "stage prod is guarded in policy.toml (rc-fraud-detection) but not in the stack's GuardedStages"
        in (received[0]["Reason"])
    )
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    assert claim_owner() is None

    handler_module("provisioner").lambda_handler(
        cfn_event("Update", url, teams="rc,algo", stages="prod"), lambda_context
    )
    assert [r["Status"] for r in received] == ["FAILED", "SUCCESS"]
