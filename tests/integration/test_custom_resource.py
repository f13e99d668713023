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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response", received
    server.shutdown()


def cfn_event(request_type: str, url: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/registry-workflow-dev/1",
        "RequestId": "req-1",
        "LogicalResourceId": "ModelPackageGroups",
        "ResourceType": "Custom::ModelPackageGroups",
        "ResourceProperties": {"ConfigVersion": "arn:aws:lambda:us-east-1:123456789012:layer:config:3"},
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
