"""The twin's speed-ups change what is cached, never what a client or a template read gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import botocore.hooks
import botocore.session
import pytest
from registry_workflow.local import botocore_models
from registry_workflow.local.template import read_template


def test_sessions_share_one_loader_and_its_models() -> None:
    botocore_models.install()
    first, second = boto3.session.Session(), boto3.session.Session()

    loader = first._session.get_component("data_loader")
    assert loader is second._session.get_component("data_loader") is botocore_models.shared_loader()
    # boto3 adds its data directory once per Session: the shared loader keeps it once
    assert len(loader.search_paths) == len(set(loader.search_paths))
    # the same parsed model, and a client built from it works as one from a fresh loader would
    one = first.client("sagemaker", region_name="ap-northeast-1").meta.service_model
    other = second.client("sagemaker", region_name="ap-northeast-1").meta.service_model
    assert one.operation_names == other.operation_names
    assert "UpdateModelPackage" in one.operation_names


def test_a_session_with_its_own_data_path_gets_its_own_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    botocore_models.install()
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))

    own = botocore.session.get_session().get_component("data_loader")

    assert own is not botocore_models.shared_loader()
    assert str(tmp_path) in own.search_paths


def test_a_template_is_parsed_once_per_version_and_each_caller_gets_its_own_copy(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Ref Name\n")

    first = read_template(path)
    first["Resources"]["Topic"]["Type"] = "changed by a caller"
    second = read_template(path)

    assert second["Resources"]["Topic"] == {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Name"}}}
    path.write_text("Resources: {}\n# edited: another size, so another version\n")
    assert read_template(path) == {"Resources": {}}


def test_clients_share_their_operation_methods_but_each_gets_its_own_class() -> None:
    botocore_models.install()
    first, second = boto3.session.Session(), boto3.session.Session()
    added = []

    def add_a_method(class_attributes: dict[str, Any], **_: Any) -> None:
        class_attributes["only_on_this_session"] = lambda self: "added"
        added.append(True)

    first.events.register("creating-client-class.sagemaker", add_a_method)
    one = first.client("sagemaker", region_name="ap-northeast-1")
    other = second.client("sagemaker", region_name="ap-northeast-1")

    assert type(one) is not type(other)
    assert type(one).describe_model_package is type(other).describe_model_package  # made once
    assert added
    assert one.only_on_this_session() == "added"  # type: ignore[attr-defined]
    assert not hasattr(other, "only_on_this_session")  # a handler's addition stays on its own class
    with pytest.raises(TypeError, match="only accepts keyword arguments"):
        other.describe_model_package("positional")


def test_event_names_alias_as_botocore_does_and_another_table_keeps_its_own() -> None:
    botocore_models.install()
    emitter = botocore.hooks.HierarchicalEmitter()

    ours = botocore.hooks.EventAliaser(emitter)
    assert ours._alias_event_name("before-call.api.sagemaker.ListModelPackages") == (
        "before-call.sagemaker.ListModelPackages"
    )
    unaliased = "before-call.sagemaker.ListModelPackages"
    assert ours._alias_event_name(unaliased) == unaliased

    theirs = botocore.hooks.EventAliaser(emitter, {"api.sagemaker": "renamed"})
    assert theirs._alias_event_name("before-call.api.sagemaker.ListModelPackages") == (
        "before-call.renamed.ListModelPackages"
    )
