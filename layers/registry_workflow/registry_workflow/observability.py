"""Powertools Logger, Tracer and Metrics: created once, here, and imported by every handler."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "registry-workflow"
NAMESPACE = "RegistryWorkflow"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
