"""Powertools Logger, Tracer and Metrics: created once, here, and imported by every handler."""

from __future__ import annotations

from importlib.util import find_spec

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "registry-workflow"
NAMESPACE = "RegistryWorkflow"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# The layer leaves out the X-Ray SDK (Powertools' [tracer] extra adds ~30 MB of botocore that the
# runtime already has); without it the Tracer is a no-op and `Tracing: Active` still records each
# invocation. Add aws-xray-sdk to layers/registry_workflow/requirements.txt for subsegments.
tracer = Tracer(service=SERVICE, disabled=find_spec("aws_xray_sdk") is None or None)
