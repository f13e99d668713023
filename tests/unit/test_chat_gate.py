"""The gate's rule for approvals made by the Slack approvals function (pure: no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from registry_workflow.gate import ChatDecision, judge_chat_approval
from registry_workflow.policy import ApprovalPolicy

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/rc-fraud-detection/1"
ALICE = "arn:aws:sts::123456789012:assumed-role/DataScience/alice"
AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
#: when the version was created: its pending state (the decision's) cannot be older
CREATED = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
POLICY = ApprovalPolicy.model_validate(
    {
        "slack": True,
        "slack_approvers": {
            "rc": [
                {"user": "U0BOB", "iam": ["arn:aws:sts::*:assumed-role/*/bob"]},
                {"user": "U0ALICE", "iam": ["arn:aws:sts::*:assumed-role/*/alice"]},
                "U0CAROL",  # tied to no IAM identity: four eyes unprovable
            ]
        },
    }
)


def package(registrant: str = ALICE, modified: datetime = AT) -> dict[str, Any]:
    return {
        "CreatedBy": {"IamIdentity": {"Arn": registrant}},
        "LastModifiedBy": {"IamIdentity": {"Arn": "arn:aws:sts::123456789012:assumed-role/SlackRole/fn"}},
        "LastModifiedTime": modified,
        "CreationTime": CREATED,
    }


def decision(user: str = "U0BOB", kind: str = "approve") -> ChatDecision:
    return ChatDecision(ARN, "2026-01-01T11:00:00+00:00", kind, user, user.lower()[2:], "rc", "ok", "V1:h")  # type: ignore[arg-type]


def test_an_approver_who_did_not_register_it_is_admitted_in_their_name() -> None:
    verdict = judge_chat_approval(package(), decision(), POLICY, "rc", event_last_modified=AT)
    assert verdict.allowed
    assert verdict.approver == "@bob (U0BOB) in Slack"


@pytest.mark.parametrize(
    ("case", "refusal"),
    [
        ("no record", "unknown_approver"),
        ("a rejection on record", "unknown_approver"),
        ("changed since", "unknown_approver"),
        ("not listed", "not_an_approver"),
        ("another team", "not_an_approver"),
        ("slack off", "not_an_approver"),
        ("own version", "self_approval"),
        ("approver tied to no IAM identity", "unknown_registrant"),
        ("registrant unknown", "unknown_registrant"),
    ],
)
def test_refusals(case: str, refusal: str) -> None:
    record: ChatDecision | None = decision()
    policy, team, described, event = POLICY, "rc", package(), AT
    if case == "no record":
        record = None
    elif case == "a rejection on record":
        record = decision(kind="reject")
    elif case == "changed since":
        event = AT - timedelta(seconds=5)
    elif case == "not listed":
        record = decision("U0MALLORY")
    elif case == "another team":
        team = "algo"
    elif case == "slack off":
        policy = POLICY.model_copy(update={"slack": False})
    elif case == "approver tied to no IAM identity":
        record = decision("U0CAROL")
    elif case == "registrant unknown":
        described = {**described, "CreatedBy": {}}
    else:
        record = decision("U0ALICE")
    verdict = judge_chat_approval(described, record, policy, team, event_last_modified=event)
    assert verdict.refusal == refusal


def test_four_eyes_off_admits_a_self_approval_and_a_tied_person_approves_others_versions() -> None:
    off = POLICY.model_copy(update={"distinct_approver": False})
    assert judge_chat_approval(package(), decision("U0ALICE"), off, "rc", event_last_modified=AT).allowed
    bob_registered = package(registrant="arn:aws:sts::123456789012:assumed-role/DataScience/bob")
    assert judge_chat_approval(bob_registered, decision("U0ALICE"), POLICY, "rc", event_last_modified=AT).allowed
    # four eyes off: a person tied to no IAM identity may approve too
    assert judge_chat_approval(package(), decision("U0CAROL"), off, "rc", event_last_modified=AT).allowed


@pytest.mark.parametrize(
    ("created", "pending_since"),
    [
        (datetime(2026, 1, 1, 11, 0, 0, 1000, tzinfo=UTC), "2026-01-01T11:00:00+00:00"),  # a later version
        (None, "2026-01-01T11:00:00+00:00"),  # creation time unknown
        (CREATED, "not a time"),  # pending state unknown
    ],
)
def test_a_decision_on_an_earlier_version_under_the_same_arn_admits_nothing(
    created: datetime | None, pending_since: str
) -> None:
    # a group deleted and created again reuses its versions' ARNs: the latest Slack decision on the
    # ARN can be about the old v1, made before the new v1 existed
    described = package() | {"CreationTime": created}
    old = ChatDecision(ARN, pending_since, "approve", "U0BOB", "bob", "rc", "ok", "V1:h")
    verdict = judge_chat_approval(described, old, POLICY, "rc", event_last_modified=AT)
    assert (verdict.allowed, verdict.refusal) == (False, "unknown_approver")


def test_a_decision_on_the_versions_first_pending_state_is_its_own() -> None:
    # the pending state a decision names is the version's LastModifiedTime: at creation, equal to it
    described = package() | {"CreationTime": datetime(2026, 1, 1, 11, tzinfo=UTC)}
    assert judge_chat_approval(described, decision(), POLICY, "rc", event_last_modified=AT).allowed


# --- a Slack user is one person: every entry naming them counts (decision 86) ----------------------

BOB = "arn:aws:sts::123456789012:assumed-role/DataScience/bob"
CI_JOB = "arn:aws:sts::123456789012:assumed-role/CI/job-42"


def approval(slack_approvers: dict[str, list[Any]]) -> ApprovalPolicy:
    return ApprovalPolicy.model_validate({"slack": True, "slack_approvers": slack_approvers})


def judged(policy: ApprovalPolicy, created_by: dict[str, Any], user: str = "U0ALICE") -> str | None:
    described = package() | {"CreatedBy": created_by}
    return judge_chat_approval(described, decision(user), policy, "rc", event_last_modified=AT).refusal


def test_every_entry_of_a_slack_user_in_the_team_counts_not_only_the_first() -> None:
    # GIVEN alice listed twice for rc (config refuses it; the gate must not depend on that), the CI
    # session she registered with only in her second entry
    policy = approval(
        {
            "rc": [
                {"user": "U0ALICE", "iam": ["arn:aws:iam::123456789012:user/alice"]},
                {"user": "U0ALICE", "iam": [CI_JOB]},
            ]
        }
    )
    # THEN her Slack approval of her own version is a self-approval
    assert judged(policy, {"IamIdentity": {"Arn": CI_JOB}}) == "self_approval"


def test_her_identities_under_another_team_make_her_the_registrant() -> None:
    # GIVEN alice approves for rc; the CI session she registers with is listed under her algo entry
    policy = approval(
        {
            "rc": [{"user": "U0ALICE", "iam": ["arn:aws:sts::*:assumed-role/*/alice"]}],
            "algo": [{"user": "U0ALICE", "iam": ["arn:aws:sts::*:assumed-role/CI/*"]}],
        }
    )
    assert judged(policy, {"IamIdentity": {"Arn": CI_JOB}}) == "self_approval"
    # and a person tied to IAM only under another team is tied: bob's version is hers to approve
    tied_elsewhere = approval(
        {"rc": ["U0ALICE"], "algo": [{"user": "U0ALICE", "iam": ["arn:aws:sts::*:assumed-role/*/alice"]}]}
    )
    assert judged(tied_elsewhere, {"IamIdentity": {"Arn": BOB}}) is None
    # listed under another team only, she still approves nothing for rc
    other = approval({"rc": ["U0BOB"], "algo": [{"user": "U0ALICE", "iam": [BOB]}]})
    assert judged(other, {"IamIdentity": {"Arn": BOB}}) == "not_an_approver"


@pytest.mark.parametrize(
    ("pattern", "source_identity", "refusal"),
    [
        ("arn:aws:sts::*:assumed-role/*/alice", "alice", "self_approval"),  # her session name is her
        ("arn:aws:iam::123456789012:user/alice", "alice", "self_approval"),  # her IAM user's name is her
        ("arn:aws:sts::*:assumed-role/*/alice*", "alice@corp.example", "self_approval"),
        ("arn:aws:sts::*:assumed-role/*/alice", "bob", None),  # another person through the same CI role
        ("arn:aws:sts::*:assumed-role/DataScience/*", "alice", None),  # names no person: ARNs decide
    ],
)
def test_the_registrants_source_identity_is_compared_with_the_person_her_entry_names(
    pattern: str, source_identity: str, refusal: str | None
) -> None:
    # GIVEN a version registered through a CI role's session that carries the person as SourceIdentity
    policy = approval({"rc": [{"user": "U0ALICE", "iam": [pattern]}]})
    created_by = {"IamIdentity": {"Arn": CI_JOB, "SourceIdentity": source_identity}}
    assert judged(policy, created_by) == refusal


def test_a_registrant_known_by_no_kind_her_entry_carries_is_unprovable_not_admitted() -> None:
    policy = approval({"rc": [{"user": "U0ALICE", "iam": ["arn:aws:sts::*:assumed-role/*/alice"]}]})
    # a Studio user profile alone: no ARN, no SourceIdentity to compare with hers
    studio = {"UserProfileName": "alice", "DomainId": "d-1"}
    assert judged(policy, studio) == "unknown_registrant"
    # with a SourceIdentity that is not the person her entry names: another person
    assert judged(policy, studio | {"IamIdentity": {"SourceIdentity": "bob"}}) is None
    # with her own ARN: her, as before
    assert judged(policy, studio | {"IamIdentity": {"Arn": ALICE}}) == "self_approval"
