"""Powertools Logger, Tracer and Metrics: created once, here, and imported by every handler."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator, Iterator
from importlib.util import find_spec
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

SERVICE = "registry-workflow"
NAMESPACE = "RegistryWorkflow"


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None: ...


class _NoTracing(BaseProvider):
    """Stands in for the X-Ray SDK when it is not installed.

    Powertools' Tracer imports `aws_xray_sdk` when it is built, even when disabled, so without the
    SDK every handler would fail at import with ModuleNotFoundError.
    """

    @contextlib.contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _NoSegment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> AsyncIterator[BaseSegment]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Any) -> None: ...
    def patch_all(self) -> None: ...


logger = Logger(service=SERVICE)
# An ignored or non-terminal event publishes no metric, by design; Powertools' docs suggest this
# filter for functions that do not publish on every invocation.
warnings.filterwarnings("ignore", "No application metrics to publish*")
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# The layer leaves out the X-Ray SDK (Powertools' [tracer] extra adds ~30 MB of botocore that the
# runtime already has); without it the Tracer gets a no-op provider and `Tracing: Active` still
# records each invocation. Add aws-xray-sdk to layers/registry_workflow/requirements.txt for
# subsegments (the Tracer then imports it: about 0.1 s of cold start).
if find_spec("aws_xray_sdk") is None:
    tracer = Tracer(service=SERVICE, disabled=False, auto_patch=False, provider=_NoTracing())
else:
    tracer = Tracer(service=SERVICE)
