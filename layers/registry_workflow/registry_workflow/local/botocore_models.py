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

import botocore.client
import botocore.hooks
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


# --- what every new client rebuilt from the same model --------------------------------------------
# Profiling the integration tests after the shared loader: 15 % of their CPU went into making
# clients (each test makes a Session and ~7 clients, so no test inherits another's clients, retry
# state or Stubbers). Two parts of it are pure functions of read-only inputs, rebuilt per client:

#: the two classes, untyped: what is replaced is private to botocore (not in its type stubs)
_ClientCreator: Any = botocore.client.ClientCreator
_EventAliaser: Any = botocore.hooks.EventAliaser
_original_create_methods = _ClientCreator._create_methods
_original_alias_event_name = _EventAliaser._alias_event_name
#: (service name, the shared model dict) -> (that dict, kept alive so its id is never reused; methods)
_methods: dict[tuple[str, int], tuple[Any, dict[str, Any]]] = {}
#: event name -> its aliased name under botocore's own alias table
_aliases: dict[str, str] = {}


def _create_methods(creator: Any, service_model: Any) -> dict[str, Any]:
    """A client class's operation methods, made once per service model (not once per client).

    Each method is a plain function of its operation's names (`self._make_api_call(name, kwargs)`)
    and a docstring; building them costs an OperationModel per operation (SageMaker has ~380).
    The class itself is still made per client, after the `creating-client-class` event, from a
    copy of the dict (that event's handlers add to it).
    """
    description = service_model._service_description  # the dict the shared loader read (one per model)
    key = (service_model.service_name, id(description))
    made = _methods.get(key)
    if made is None:
        made = _methods[key] = (description, _original_create_methods(creator, service_model))
    return dict(made[1])


def _alias_event_name(aliaser: Any, event_name: str) -> str:
    """botocore's event-name aliasing, remembered per process for its own alias table.

    botocore caches it per emitter, and every client copies the Session's emitter without that
    cache, so each client re-derived every event name it emitted (a loop over the alias table).
    """
    aliased: str | None = aliaser._alias_name_cache.get(event_name)
    if aliased is not None:
        return aliased
    if aliaser._event_aliases != botocore.hooks.EVENT_ALIASES:  # another table: botocore's own path
        return _original_alias_event_name(aliaser, event_name)
    aliased = _aliases.get(event_name)
    if aliased is None:
        aliased = _aliases[event_name] = _original_alias_event_name(aliaser, event_name)
    aliaser._alias_name_cache[event_name] = aliased
    return aliased


def install(*, preload: bool = False) -> None:
    """Every later default Session of this process uses the shared loader; `preload` reads the models now.

    Clients also share their operation methods and event-name aliases (above).
    """
    botocore.session.create_loader = _create_loader
    _ClientCreator._create_methods = _create_methods
    _EventAliaser._alias_event_name = _alias_event_name
    if preload:
        # a client reads everything a client needs (service model, endpoint rules, partitions,
        # retry and default-configuration data); the client itself is thrown away
        session = botocore.session.get_session()
        for service in PRELOADED:
            session.create_client(
                service, region_name=DEFAULT_REGION, aws_access_key_id="preload", aws_secret_access_key="preload"
            )
