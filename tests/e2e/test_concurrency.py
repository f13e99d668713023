"""Races on the twin, whose functions run concurrently as on Lambda: each ends with one version live.

Every test ends the same way, whatever order the concurrent invocations took: nothing queued or
deploying, the endpoint InService on the newest version that is still approved, exactly one
deployment record per approved version (none lost, none deployed twice), and every decision in
`registry-workflow history`. The outcome is the assertion, never the timing.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from twin_process import RunningTwin
from workflow_steps import (
    approve,
    create_bucket,
    live,
    register,
    reject,
    serving,
    settled,
    stamped,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def provisioned(running_twin: RunningTwin) -> RunningTwin:
    assert running_twin.cli("provision").returncode == 0
    create_bucket(running_twin)
    return running_twin


def registered(twin: RunningTwin, count: int, first: int = 1) -> list[str]:
    arns = [register(twin, version, auc=0.9 + version / 100) for version in range(first, first + count)]
    for arn in arns:
        assert wait_for(lambda arn=arn: stamped(twin, arn) == "passed")
    return arns


def at_once(*actions: Any) -> None:
    """Run the actions at the same moment (one client thread each), as several reviewers would."""
    with ThreadPoolExecutor(len(actions)) as pool:
        for future in [pool.submit(action) for action in actions]:
            future.result()


def deploys_per_version(records: list[dict[str, Any]]) -> Counter[int]:
    return Counter(r["version"] for r in records if r["kind"] == "deploy")


def test_three_approvals_of_one_group_within_a_second(provisioned: RunningTwin) -> None:
    twin = provisioned
    arns = registered(twin, 3)

    at_once(*(lambda arn=arn: approve(twin, arn) for arn in arns))

    wait_for(lambda: settled(twin) if live(twin) == 3 else None)
    twin.idle()  # every delivery has run: an older approval may still be on its way when v3 is live
    records = wait_for(lambda: settled(twin) if live(twin) == 3 else None)
    assert serving(twin) == 3  # the newest approved version, really on the endpoint
    assert deploys_per_version(records) == {1: 1, 2: 1, 3: 1}  # each approval recorded once, none lost
    by_version = {r["version"]: r["status"] for r in records}
    assert by_version[3] == "succeeded"
    assert {by_version[1], by_version[2]} <= {"succeeded", "superseded"}
    twin.idle()
    assert all(o["ok"] for o in twin.log()["outcomes"])


def test_an_approval_racing_a_rejection_of_the_same_version(provisioned: RunningTwin) -> None:
    twin = provisioned
    v1, v2 = registered(twin, 2)
    approve(twin, v1)
    assert wait_for(lambda: live(twin) == 1 and settled(twin))

    at_once(lambda: approve(twin, v2), lambda: reject(twin, v2, "found a leak in the features"))

    # SageMaker keeps whichever update landed last; the endpoint must end on what the registry says
    sagemaker = twin.client("sagemaker")

    def consistent() -> tuple[list[dict[str, Any]], str, int] | None:
        records = settled(twin)
        final = sagemaker.describe_model_package(ModelPackageName=v2)["ModelApprovalStatus"]
        expected = 2 if final == "Approved" else 1
        return (records, final, expected) if records and live(twin) == expected else None

    wait_for(consistent)
    twin.idle()
    records, final, expected = wait_for(consistent)  # and still so once everything in flight has run
    assert serving(twin) == expected
    assert deploys_per_version(records)[1] == 1
    assert deploys_per_version(records)[2] <= 1  # deployed at most once, whatever the order
    v2_deploys = [r for r in records if r["version"] == 2 and r["kind"] == "deploy"]
    if final != "Approved":  # v2 may have gone live for a moment: then it was rolled back, never left serving
        assert all(r["status"] in {"rolled_back", "superseded", "failed"} for r in v2_deploys), v2_deploys
    assert all(o["ok"] for o in twin.log()["outcomes"])


@pytest.mark.parametrize("running_twin", [{"args": ["--duplicate-events"]}], indirect=True)
def test_duplicated_events_delivered_concurrently(provisioned: RunningTwin) -> None:
    twin = provisioned
    arns = registered(twin, 2)

    at_once(*(lambda arn=arn: approve(twin, arn) for arn in arns))

    wait_for(lambda: settled(twin) if live(twin) == 2 else None)
    twin.idle()  # every delivery has run: v1's approval may still be on its way when v2 is live
    records = wait_for(lambda: settled(twin) if live(twin) == 2 else None)
    assert serving(twin) == 2
    assert deploys_per_version(records) == {1: 1, 2: 1}  # two deliveries of each approval, one deployment
    log = twin.log()
    assert len(log["deliveries"]) == 2 * len(log["events"])
    assert all(o["ok"] for o in log["outcomes"]), [(o["function"], o["error"]) for o in log["outcomes"] if not o["ok"]]
