"""One botocore data loader per process, shared by every Session: each service model is read once.

botocore gives every new Session a new `Loader`, and a Loader caches what it read only for
itself, so each Session reads and decodes the JSON service models again: SageMaker's alone is
several megabytes, about 0.1 s of CPU each time. The twin's execution environments, the operator
CLI run in a test, and the tests' own clients make many Sessions, and profiling the suite showed
a third of its CPU in those reads. `install()` makes `botocore.session` build every default Loader
from one shared, pre-warmed instance; a Session that asks for its own data path
(`AWS_DATA_PATH`) still gets a Loader of its own.

Only the twin's processes and the tests install it (this package is not in the Lambda layer): on
AWS a function keeps one Session per process (`registry_workflow.aws`), which already reads each
model once. The models are read-only to botocore (one Session shares them between its clients
in the same way), so sharing them between Sessions changes what is cached, not what any client
does.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.loaders
import botocore.session

from registry_workflow.local.template import DEFAULT_REGION

#: the services the workflow, the twin and the tests talk to: read before environments fork
PRELOADED = ("sagemaker", "s3", "dynamodb", "sns", "sqs", "sts", "iam", "secretsmanager", "cloudwatch", "events")

_lock = threading.Lock()
_shared: botocore.loaders.Loader | None = None
_original_create_loader = botocore.loaders.create_loader


class _SearchPaths(list[str]):
    """boto3 appends its own data directory to a Session's loader once per Session: keep it once."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def shared_loader() -> botocore.loaders.Loader:
    global _shared
    with _lock:
        if _shared is None:
            loader = _original_create_loader()
            loader._search_paths = _SearchPaths(loader.search_paths)  # type: ignore[attr-defined]  # private: see _SearchPaths
            _shared = loader
        return _shared


def _create_loader(search_path_string: str | None = None) -> Any:
    if search_path_string is None:
        return shared_loader()
    return _original_create_loader(search_path_string)


def install(*, preload: bool = False) -> None:
    """Every later default Session of this process uses the shared loader; `preload` reads the models now."""
    botocore.session.create_loader = _create_loader
    if preload:
        # a client reads everything a client needs (service model, endpoint rules, partitions,
        # retry and default-configuration data); the client itself is thrown away
        session = botocore.session.get_session()
        for service in PRELOADED:
            session.create_client(
                service, region_name=DEFAULT_REGION, aws_access_key_id="preload", aws_secret_access_key="preload"
            )
