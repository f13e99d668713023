"""The project's fixes for moto's SageMaker gaps — the one place they live.

moto (5.2.x) is the project's stand-in for AWS. Where it differs from AWS in a way this project
meets, the difference is closed here, on moto's backend and response classes, so it applies to
`mock_aws` in tests and to a `ThreadedMotoServer` in the same interpreter alike. Each fix names
the moto behaviour it covers:

===============================  ===================================================================
moto                             AWS (what the fix makes moto do)
===============================  ===================================================================
create_model_package_group       ValidationException "... already exists" for an existing group
  silently overwrites
update_model_package clears      omitted fields are left as they are
  omitted fields
delete_model_package(_group)     implemented; a group holding versions cannot be deleted
  not implemented
update_endpoint not implemented  implemented: Updating → InService on the new config, or back
                                 InService on the old config with a FailureReason when it fails;
                                 "Cannot update in-progress endpoint" while busy
create_endpoint InService at     Creating → InService (or Failed) — instant unless the twin sets a
  once                           transition delay
duplicate create_model /         ValidationException "Cannot create already existing ..."
  endpoint_config / endpoint
  accepted
no events at all                 every change is published to `subscribe`rs (the twin turns them
                                 into EventBridge events)
DynamoDB / SageMaker calls not   each call runs alone (`_serialize`): concurrent Lambdas on the twin
  thread-safe (a concurrent      get AWS's atomic calls, conditional writes included
  write breaks a read or a
  transaction: HTTP 500)
CloudWatch alarm history (none; see `moto_alarms`: DescribeAlarmHistory answers state changes, and
  an update resets the alarm)    PutMetricAlarm on an existing alarm keeps its state and history
DescribeStacks gives a list      the text it was given ("rc,algo"), as AWS does
  parameter as "['rc','algo']"   (`_list_parameters_as_given`)
a new RSA key per SNS          one signing key for every subscription (`_one_sns_signing_key`), as
  subscription (~50 ms each)     SNS signs with one certificate per region
TransactWriteItems copies every  it snapshots only the items it names, and puts back exactly those
  table it touches (for its      when it fails (`_item_level_transactions`): a transaction costs
  rollback): O(table) a call,    what its items cost, as on AWS, so a burst's audit and ledger
  O(n^2) over a burst            writes no longer slow down as the tables grow
CreatedBy / LastModifiedBy are   the caller's IAM identity (`IamIdentity.Arn`, `PrincipalId`): an
  one fake Studio user profile   IAM user of moto's IAM, an assumed role's session, or the
  for every caller               account's root for keys moto's IAM does not know (plain test keys)
ModelLifeCycle ignored: not      Create/UpdateModelPackage validate it (Stage and StageStatus
  stored, described, listed,     required, `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`; StageDescription
  searched or in events          <= 1024) and store it; Describe/List/Search return it (absent when
                                 never set); an update that sets it lists "ModelLifeCycle" in the
                                 event's UpdatedModelPackageFields; Search filters on
                                 `ModelLifeCycle.Stage|StageStatus|StageDescription`
===============================  ===================================================================
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.abc import Loader, MetaPathFinder
from importlib.util import find_spec
from types import ModuleType
from typing import Any

from moto.core.common_models import BaseModel  # noqa: F401  (import check: moto is present)
from moto.core.utils import utcnow
from moto.sagemaker import models as sm_models
from moto.sagemaker import responses as sm_responses
from moto.sagemaker.exceptions import ValidationError

from registry_workflow.local import moto_alarms

BUSY_STATUSES = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}


@dataclass
class EndpointBehaviour:
    """Knobs the twin and tests turn; the defaults keep moto's instant behaviour."""

    #: seconds an endpoint spends Creating/Updating; None completes within the call
    transition_seconds: float | None = None
    #: when set, the next CreateEndpoint/UpdateEndpoint fails with this reason
    fail_next: str | None = None


behaviour = EndpointBehaviour()

#: (kind, payload) — kind is "model_package" or "endpoint"
Listener = Callable[[str, dict[str, Any]], None]
_listeners: list[Listener] = []
_applied = False
_lock = threading.RLock()


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call `listener` after every change AWS would announce; returns an unsubscribe function."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def _publish(kind: str, payload: dict[str, Any]) -> None:
    for listener in list(_listeners):
        listener(kind, payload)


def apply() -> None:
    """Install every fix (idempotent)."""
    global _applied
    with _lock:
        if _applied:
            return
        _patch_backend()
        _patch_responses()
        _item_level_transactions()
        _list_parameters_as_given()
        _one_sns_signing_key()
        moto_alarms.apply()
        _serialize()
        _applied = True


# --- backend ------------------------------------------------------------------------------------

Backend = sm_models.SageMakerModelBackend
_original_create_group = Backend.create_model_package_group
_original_create_package = Backend.create_model_package
_original_create_model = Backend.create_model
_original_create_endpoint_config = Backend.create_endpoint_config
_original_create_endpoint = Backend.create_endpoint


def _create_model_package_group(self: Any, model_package_group_name: str, *args: Any, **kwargs: Any) -> str:
    if model_package_group_name in self.model_package_groups:
        arn = self.model_package_groups[model_package_group_name].arn
        raise ValidationError(f"Model Package Group already exists: {arn}")
    return _original_create_group(self, model_package_group_name, *args, **kwargs)


def _create_model_package(self: Any, *args: Any, model_life_cycle: dict[str, Any] | None = None, **kwargs: Any) -> str:
    """`model_life_cycle`: given by a direct backend call, else the request's (validated there)."""
    life_cycle = validated_life_cycle(model_life_cycle) if model_life_cycle is not None else _request_life_cycle()
    arn = _original_create_package(self, *args, **kwargs)
    package = self.model_packages[arn]
    package.model_life_cycle = life_cycle
    package.created_by = _current_caller() or package.created_by
    package.last_modified_time = package.creation_time
    package.last_modified_by = package.created_by
    _publish(
        "model_package",
        {"package": package, "updated_fields": None, "region": self.region_name, "account": self.account_id},
    )
    return arn


_UPDATABLE = {
    "model_approval_status": "ModelApprovalStatus",
    "approval_description": "ApprovalDescription",
    "customer_metadata_properties": "CustomerMetadataProperties",
}


def _update_model_package(
    self: Any,
    model_package_arn: str,
    model_approval_status: str | None,
    approval_description: str | None,
    customer_metadata_properties: dict[str, str] | None,
    customer_metadata_properties_to_remove: list[str] | None,
    additional_inference_specifications_to_add: list[Any] | None,
    model_life_cycle: dict[str, Any] | None = None,
) -> str:
    """`model_life_cycle`: given by a direct backend call, else the request's (validated there)."""
    life_cycle = validated_life_cycle(model_life_cycle) if model_life_cycle is not None else _request_life_cycle()
    arn = self.model_package_name_mapping.get(model_package_arn, model_package_arn)
    package = self.model_packages.get(arn)
    if package is None:
        raise ValidationError(f"Model package {model_package_arn} does not exist.")
    updated: list[str] = []
    if model_approval_status is not None:
        package.set_model_approval_status(model_approval_status)
        updated.append("ModelApprovalStatus")
    if approval_description is not None:
        package.approval_description = approval_description
        updated.append("ApprovalDescription")
    if customer_metadata_properties is not None:
        merged = dict(package.customer_metadata_properties or {})
        merged.update(customer_metadata_properties)
        package.customer_metadata_properties = merged
        updated.append("CustomerMetadataProperties")
    if customer_metadata_properties_to_remove:
        for key in customer_metadata_properties_to_remove:
            (package.customer_metadata_properties or {}).pop(key, None)
        if "CustomerMetadataProperties" not in updated:
            updated.append("CustomerMetadataProperties")
    if additional_inference_specifications_to_add:
        package.add_additional_inference_specifications(additional_inference_specifications_to_add)
        updated.append("AdditionalInferenceSpecifications")
    if life_cycle is not None:
        # the structure is replaced whole: a StageDescription left out is gone
        package.model_life_cycle = life_cycle
        updated.append("ModelLifeCycle")
    package.modifications_done()
    package.last_modified_by = _current_caller() or package.last_modified_by
    _publish(
        "model_package",
        {
            "package": package,
            "updated_fields": updated,
            "region": self.region_name,
            "account": self.account_id,
        },
    )
    return package.arn


def _delete_model_package(self: Any, model_package_name: str) -> None:
    arn = self.model_package_name_mapping.get(model_package_name, model_package_name)
    package = self.model_packages.pop(arn, None)
    if package is None:
        raise ValidationError(f"Model package {model_package_name} does not exist.")
    for key in [k for k, v in self.model_package_name_mapping.items() if v == arn]:
        del self.model_package_name_mapping[key]


def _delete_model_package_group(self: Any, model_package_group_name: str) -> None:
    group = self.model_package_groups.get(model_package_group_name)
    if group is None:
        raise ValidationError(f"ModelPackageGroup {model_package_group_name} does not exist.")
    if any(p.model_package_group_name == model_package_group_name for p in self.model_packages.values()):
        raise ValidationError(
            f"Model Package Group {model_package_group_name} cannot be deleted: it contains model packages."
        )
    del self.model_package_groups[model_package_group_name]


def _create_model(self: Any, *args: Any, **kwargs: Any) -> Any:
    name = kwargs.get("model_name", args[0] if args else None)
    if name in self._models:
        raise ValidationError(f'Cannot create already existing model "{self._models[name].arn}".')
    return _original_create_model(self, *args, **kwargs)


def _create_endpoint_config(self: Any, endpoint_config_name: str, *args: Any, **kwargs: Any) -> Any:
    if endpoint_config_name in self.endpoint_configs:
        arn = self.endpoint_configs[endpoint_config_name].endpoint_config_arn
        raise ValidationError(f'Cannot create already existing endpoint configuration "{arn}".')
    return _original_create_endpoint_config(self, endpoint_config_name, *args, **kwargs)


def _create_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str, tags: Any) -> Any:
    if endpoint_name in self.endpoints:
        raise ValidationError(f'Cannot create already existing endpoint "{self.endpoints[endpoint_name].arn}".')
    endpoint = _original_create_endpoint(self, endpoint_name, endpoint_config_name, tags)
    failure = _take_failure()
    _transition(self, endpoint, "Creating", new_config=endpoint_config_name, failure=failure, creating=True)
    return endpoint


def _update_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str) -> str:
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        raise ValidationError(f'Could not find endpoint "{endpoint_name}".')
    if endpoint_config_name not in self.endpoint_configs:
        raise ValidationError(f'Could not find endpoint configuration "{endpoint_config_name}".')
    if endpoint.endpoint_status in BUSY_STATUSES:
        raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
    if endpoint.endpoint_status == "Failed":
        raise ValidationError(f'Cannot update failed endpoint "{endpoint.arn}". Delete it and create it again.')
    _transition(self, endpoint, "Updating", new_config=endpoint_config_name, failure=_take_failure())
    return endpoint.arn


def _take_failure() -> str | None:
    with _lock:
        failure, behaviour.fail_next = behaviour.fail_next, None
    return failure


def _transition(
    backend: Any, endpoint: Any, status: str, *, new_config: str, failure: str | None, creating: bool = False
) -> None:
    """Busy now; after the delay, InService on the new config — or the failure AWS would show."""
    old_config = endpoint.endpoint_config_name
    endpoint.endpoint_status = status
    endpoint.failure_reason = None
    endpoint.pending_config = new_config
    endpoint.last_modified_time = utcnow()
    _publish_endpoint(backend, endpoint)

    def finish() -> None:
        with _lock:
            endpoint.pending_config = None
            if failure and creating:
                endpoint.endpoint_status, endpoint.failure_reason = "Failed", failure
            elif failure:
                # AWS rolls a failed update back: InService again, on the OLD config
                endpoint.endpoint_status, endpoint.failure_reason = "InService", failure
                endpoint.endpoint_config_name = old_config
            else:
                config = backend.endpoint_configs[new_config]
                endpoint.endpoint_config_name = new_config
                endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
                endpoint.endpoint_status = "InService"
            endpoint.last_modified_time = utcnow()
        _publish_endpoint(backend, endpoint)

    delay = behaviour.transition_seconds
    if delay is None:
        finish()
    else:
        timer = threading.Timer(delay, finish)
        timer.daemon = True
        timer.start()


def _publish_endpoint(backend: Any, endpoint: Any) -> None:
    _publish("endpoint", {"endpoint": endpoint, "region": backend.region_name, "account": backend.account_id})


def _patch_backend() -> None:
    fixes = {
        "create_model_package_group": _create_model_package_group,
        "create_model_package": _create_model_package,
        "update_model_package": _update_model_package,
        "delete_model_package": _delete_model_package,
        "delete_model_package_group": _delete_model_package_group,
        "create_model": _create_model,
        "create_endpoint_config": _create_endpoint_config,
        "create_endpoint": _create_endpoint,
        "update_endpoint": _update_endpoint,
    }
    for name, fix in fixes.items():
        setattr(Backend, name, fix)
    _patch_life_cycle()
    original_response_object = sm_models.FakeEndpoint.response_object

    def response_object(self: Any) -> dict[str, Any]:
        response = dict(original_response_object.fget(self))  # type: ignore[attr-defined]
        if getattr(self, "pending_config", None):
            response["PendingDeploymentSummary"] = {"EndpointConfigName": self.pending_config}
        if not self.failure_reason:
            response.pop("FailureReason", None)
        return response

    setattr(sm_models.FakeEndpoint, "response_object", property(response_object))  # noqa: B010


def _serialize() -> None:
    """One DynamoDB or SageMaker call at a time (server threads, test threads): each is atomic, as on AWS.

    moto's backends are plain dicts: a write during another call's iteration (a Query, a
    transaction's snapshot) raises "dictionary changed size during iteration", and two
    conditional writes can both pass their check. Neither service's calls wait on anything, so
    one lock costs no more than the GIL already does.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for backend in (DynamoDBBackend, Backend):
        for name, member in list(vars(backend).items()):
            if not name.startswith("_") and inspect.isfunction(member):
                setattr(backend, name, _atomic(member))


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    return call


# --- DynamoDB transactions: a snapshot of their items, not of their tables ---------------------------

#: set while a transaction runs (under `_lock`): moto's whole-table backup is skipped then
_transaction = threading.local()


def _item_level_transactions() -> None:
    """TransactWriteItems snapshots the items it names, not the tables they are in.

    moto backs up each table a transaction touches with `copy.deepcopy(table)` before running it,
    and puts the copies back when it fails. That makes every transaction cost as much as its
    tables hold: the audit trail and the ledger write one per event, so a burst of n versions
    cost O(n^2), and moto's time, not the handlers', decided how fast the twin drained a burst.
    Here the backup is of the items the transaction names (at most 100, as on AWS) and the
    rollback puts back exactly those; everything else about the call (its checks, its errors,
    `ALL_OLD` on a failed condition) is still moto's. Calls are serialized (`_serialize`), so no
    other call sees the items between a failed transaction's writes and their rollback.
    """
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    class _TableCopy:
        """`copy` as moto's DynamoDB backend sees it: a table is not copied while a transaction runs."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
            if isinstance(value, Table) and getattr(_transaction, "active", False):
                return value  # moto's rollback then puts the table back as it is; ours restores its items
            return copy.deepcopy(value, memo)

    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _lock:
            before = _snapshot_items(self, transact_items)
            _transaction.active = True
            try:
                return original(self, transact_items)
            except BaseException:
                _restore_items(before)
                raise
            finally:
                _transaction.active = False

    dynamodb_models.copy = _TableCopy()  # type: ignore[assignment]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _snapshot_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item or None) for each item the transaction names."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    saved = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            table = backend.get_table(op["TableName"])  # a name or an ARN, as moto resolves it
            attrs = op["Item"] if "Item" in op else op["Key"]
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            item = table.get_item(hash_key, range_key)
        except Exception:  # noqa: BLE001, S112 - an op moto will refuse: it writes nothing to undo
            continue
        saved.append((table, hash_key, range_key, copy.deepcopy(item)))
    return saved


def _restore_items(saved: list[tuple[Any, Any, Any, Any]]) -> None:
    """Put each named item back as it was before the transaction (absent if it was)."""
    for table, hash_key, range_key, item in reversed(saved):
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item


# --- CloudFormation: a list parameter as it was given --------------------------------------------


def _list_parameters_as_given() -> None:
    """DescribeStacks shows a CommaDelimitedList / List<…> parameter as the text it was given.

    moto keeps such a value split into a Python list and describes it with `str(list)`
    ("['rc', 'algo']"); AWS gives back "rc,algo". The CLI reads a deployed stack's ManagedTeams
    and GuardedStages this way (`registry-workflow provision --stack-name`).
    """
    # moto's CloudFormation models import most of EC2's (~40 % of a twin's start): patched once
    # something imports them (a CloudFormation call), not at every start
    _when_imported("moto.cloudformation.models", _patch_stack_parameters)


def _patch_stack_parameters(module: ModuleType) -> None:
    Stack = module.Stack
    original = Stack.parameter_list

    def parameter_list(self: Any) -> list[dict[str, Any]]:
        listed = original.fget(self)
        return [
            {**p, "ParameterValue": ",".join(map(str, p["ParameterValue"]))}
            if isinstance(p.get("ParameterValue"), list)
            else p
            for p in listed
        ]

    setattr(Stack, "parameter_list", property(parameter_list))  # noqa: B010


def _when_imported(name: str, patch: Callable[[ModuleType], None]) -> None:
    """Run `patch` on module `name` right after it is first imported (now, if it already was).

    A finder at the front of `sys.meta_path` answers for `name` alone: it finds the module's spec
    as the other finders would and hands it a loader that runs the module, then `patch`, inside
    the import (under its lock, before any other thread can use the module). The finder leaves
    only once the patch has run: a `find_spec` probe does not use it up, and a patch that fails
    fails that import and every later one (never a silently unpatched module).
    """
    if name in sys.modules:
        patch(sys.modules[name])
        return
    sys.meta_path.insert(0, _PatchOnImport(name, patch))


class _PatchOnImport(MetaPathFinder):
    def __init__(self, name: str, patch: Callable[[ModuleType], None]) -> None:
        self.name, self.patch, self.finding = name, patch, False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name or self.finding:
            return None
        self.finding = True
        try:
            spec = find_spec(fullname)
        finally:
            self.finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, self)
        return spec

    def patched(self, module: ModuleType) -> None:
        self.patch(module)
        if self in sys.meta_path:
            sys.meta_path.remove(self)


class _PatchingLoader(Loader):
    """The module's own loader, then the patch (see `_when_imported`)."""

    def __init__(self, loader: Loader, finder: _PatchOnImport) -> None:
        self.loader, self.finder = loader, finder

    def create_module(self, spec: Any) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        self.finder.patched(module)

    def __getattr__(self, attribute: str) -> Any:  # get_code, get_source, resource readers, ...
        return getattr(self.loader, attribute)


def _one_sns_signing_key() -> None:
    """SNS signs every message with one key per region (its signing certificate); moto generated a
    new 2,048-bit RSA key for every subscription (~50 ms each: 7 % of the integration tests' CPU,
    and the first message of each twin subscription). One key per process stands for it."""
    from moto.sns.models import Subscription

    setattr(Subscription, "private_key", lambda self: _sns_signing_key())  # noqa: B010


@functools.cache
def _sns_signing_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# --- who is calling (CreatedBy / LastModifiedBy) ----------------------------------------------------

#: the identity of the request being served, set by the response layer for the backend (one thread
#: serves one request in moto's server and in `mock_aws`)
_caller = threading.local()


def _current_caller() -> dict[str, Any] | None:
    return getattr(_caller, "identity", None)


def caller_identity(access_key_id: str, account_id: str, region: str) -> dict[str, Any]:
    """The `UserContext` AWS records for a caller: `{"IamIdentity": {"Arn", "PrincipalId"}}`.

    An assumed role's session (STS) or an IAM user (moto's IAM) by access key; any other key is
    the account's root, which is what plain test credentials stand for.
    """
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends
    from moto.utilities.utils import get_partition

    partition = get_partition(region)
    assumed = sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key_id)
    if assumed is not None:
        return {"IamIdentity": {"Arn": assumed.arn, "PrincipalId": assumed.user_id}}
    user = iam_backends[account_id][partition].get_user_from_access_key_id(access_key_id)
    if user is not None:
        return {"IamIdentity": {"Arn": user.arn, "PrincipalId": user.id}}
    return {"IamIdentity": {"Arn": f"arn:{partition}:iam::{account_id}:root", "PrincipalId": account_id}}


def _as_caller(method: Callable[..., Any]) -> Callable[..., Any]:
    def serve(self: Any) -> Any:
        _caller.identity = caller_identity(self.get_access_key(), self.current_account, self.region)
        try:
            return method(self)
        finally:
            _caller.identity = None

    serve.__name__ = method.__name__
    return serve


# --- ModelLifeCycle (stages) -------------------------------------------------------------------------

#: Stage and StageStatus (botocore's EntityName); StageDescription is 0-1024 characters
_ENTITY_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_ENTITY_NAME_MAX = 63
_STAGE_DESCRIPTION_MAX = 1024
_LIFE_CYCLE_FIELDS = ("Stage", "StageStatus", "StageDescription")
#: Search's operators on ModelLifeCycle.* that the twin evaluates (AWS has more: numeric, In, ...)
_SEARCH_OPERATORS = {"Equals", "NotEquals", "Contains", "Exists", "NotExists"}

#: the ModelLifeCycle of the request being served, validated (set by the response layer)
_request = threading.local()


def _request_life_cycle() -> dict[str, str] | None:
    return getattr(_request, "life_cycle", None)


def validated_life_cycle(value: Any) -> dict[str, str]:
    """A request's `ModelLifeCycle`, checked as AWS checks it; raises AWS's ValidationException text.

    AWS reports every violated constraint at once: "2 validation errors detected: Value null at
    'modelLifeCycle.stage' failed to satisfy constraint: Member must not be null; ...".
    """
    if not isinstance(value, dict):
        raise ValidationError("1 validation error detected: Value at 'modelLifeCycle' must be a structure")
    problems: list[str] = []
    for field in ("Stage", "StageStatus"):
        where = f"'modelLifeCycle.{field[0].lower()}{field[1:]}'"
        text = value.get(field)
        if text is None:
            problems.append(f"Value null at {where} failed to satisfy constraint: Member must not be null")
        elif not isinstance(text, str) or not text:
            problems.append(
                f"Value '{text}' at {where} failed to satisfy constraint: "
                "Member must have length greater than or equal to 1"
            )
        elif len(text) > _ENTITY_NAME_MAX:
            problems.append(
                f"Value '{text}' at {where} failed to satisfy constraint: "
                f"Member must have length less than or equal to {_ENTITY_NAME_MAX}"
            )
        elif not _ENTITY_NAME.fullmatch(text):
            problems.append(
                f"Value '{text}' at {where} failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {_ENTITY_NAME.pattern}"
            )
    description = value.get("StageDescription")
    if description is not None and (not isinstance(description, str) or len(description) > _STAGE_DESCRIPTION_MAX):
        problems.append(
            f"Value '{description}' at 'modelLifeCycle.stageDescription' failed to satisfy constraint: "
            f"Member must have length less than or equal to {_STAGE_DESCRIPTION_MAX}"
        )
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected"
        raise ValidationError(f"{count}: {'; '.join(problems)}")
    return {field: value[field] for field in _LIFE_CYCLE_FIELDS if value.get(field) is not None}


def _with_life_cycle(method: Callable[..., Any]) -> Callable[..., Any]:
    """Validate the request's ModelLifeCycle before anything changes, and hand it to the backend."""

    def serve(self: Any) -> Any:
        given = self._get_param("ModelLifeCycle")
        _request.life_cycle = None if given is None else validated_life_cycle(given)
        try:
            return method(self)
        finally:
            _request.life_cycle = None

    serve.__name__ = method.__name__
    return serve


def _patch_life_cycle() -> None:
    """Describe/List/Search show the stored ModelLifeCycle; Search filters on its fields."""
    original_response_object = sm_models.ModelPackage.gen_response_object

    def gen_response_object(self: Any) -> dict[str, Any]:
        response = original_response_object(self)
        life_cycle = getattr(self, "model_life_cycle", None)
        if life_cycle:
            response["ModelLifeCycle"] = dict(life_cycle)
        return response

    setattr(sm_models.ModelPackage, "gen_response_object", gen_response_object)  # noqa: B010

    original_search = Backend.search

    def search(self: Any, resource: Any = None, search_expression: Any = None) -> Any:
        filters = list((search_expression or {}).get("Filters") or [])
        ours = [f for f in filters if str(f.get("Name", "")).startswith("ModelLifeCycle.")]
        if resource != "ModelPackage" or not ours:
            return original_search(self, resource=resource, search_expression=search_expression)
        for f in ours:
            field, operator = f["Name"].split(".", 1)[1], f.get("Operator", "Equals")
            if field not in _LIFE_CYCLE_FIELDS:
                raise ValidationError(f"Unknown property name: {f['Name']}")
            if operator not in _SEARCH_OPERATORS:
                raise ValidationError(
                    f"Operator {operator} on {f['Name']}: the twin evaluates {', '.join(sorted(_SEARCH_OPERATORS))}"
                )
        rest = {**search_expression, "Filters": [f for f in filters if f not in ours]}
        result = original_search(self, resource=resource, search_expression=rest)
        result["Results"] = [
            r for r in result["Results"] if all(_life_cycle_matches(r["ModelPackage"], f) for f in ours)
        ]
        return result

    setattr(Backend, "search", search)  # noqa: B010


def _life_cycle_matches(package: dict[str, Any], search_filter: dict[str, Any]) -> bool:
    actual = (package.get("ModelLifeCycle") or {}).get(search_filter["Name"].split(".", 1)[1])
    operator, expected = search_filter.get("Operator", "Equals"), search_filter.get("Value")
    if operator == "Exists":
        return actual is not None
    if operator == "NotExists":
        return actual is None
    if operator == "Contains":
        return actual is not None and str(expected) in actual
    if operator == "NotEquals":
        return actual != expected
    return actual == expected


# --- responses (HTTP surface: boto3, the aws CLI, the SageMaker SDK) ------------------------------


def _patch_responses() -> None:
    from moto.core.responses import ActionResult, EmptyResult

    Response = sm_responses.SageMakerResponse

    def delete_model_package(self: Any) -> Any:
        self.sagemaker_backend.delete_model_package(self._get_param("ModelPackageName"))
        return EmptyResult()

    def delete_model_package_group(self: Any) -> Any:
        self.sagemaker_backend.delete_model_package_group(self._get_param("ModelPackageGroupName"))
        return EmptyResult()

    def update_endpoint(self: Any) -> Any:
        arn = self.sagemaker_backend.update_endpoint(
            self._get_param("EndpointName"), self._get_param("EndpointConfigName")
        )
        return ActionResult({"EndpointArn": arn})

    for handler in (delete_model_package, delete_model_package_group, update_endpoint):
        setattr(Response, handler.__name__, handler)
    for name in ("create_model_package", "update_model_package"):
        setattr(Response, name, _as_caller(_with_life_cycle(getattr(Response, name))))
