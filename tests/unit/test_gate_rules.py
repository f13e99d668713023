"""The gate's four-eyes rules as a table: who registered, who approved, the policy → the verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from registry_workflow.gate import identity_of, judge_approval
from registry_workflow.policy import ApprovalPolicy

ACCOUNT = "123456789012"
T0 = datetime(2026, 12, 4, 10, 0, 0, 123000, tzinfo=UTC)


def user(name: str) -> dict[str, Any]:
    return {"IamIdentity": {"Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}", "PrincipalId": f"AIDA{name.upper()}"}}


def session(role: str, who: str, source: str | None = None, account: str = ACCOUNT) -> dict[str, Any]:
    iam: dict[str, Any] = {"Arn": f"arn:aws:sts::{account}:assumed-role/{role}/{who}", "PrincipalId": f"AROA:{who}"}
    if source:
        iam["SourceIdentity"] = source
    return {"IamIdentity": iam}


def package(created: Any, modified: Any, at: datetime = T0) -> dict[str, Any]:
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/rc-fraud-detection/1"
    return {"ModelPackageArn": arn, "CreatedBy": created, "LastModifiedBy": modified, "LastModifiedTime": at}


APPROVERS = ApprovalPolicy(approvers=[f"arn:aws:iam::{ACCOUNT}:role/ml-approvers"])
NOT_DISTINCT = ApprovalPolicy(distinct_approver=False)


@pytest.mark.parametrize(
    ("case", "created", "modified", "policy", "auto", "refusal"),
    [
        ("another person approves", user("ana"), user("bo"), ApprovalPolicy(), False, None),
        ("the registrant approves", user("ana"), user("ana"), ApprovalPolicy(), False, "self_approval"),
        ("self-approval allowed by policy", user("ana"), user("ana"), NOT_DISTINCT, False, None),
        (
            "same role, two people (sessions)",
            session("ds", "ana"),
            session("ds", "bo"),
            ApprovalPolicy(),
            False,
            None,
        ),
        (
            "two roles, one person (SourceIdentity)",
            session("ds", "x", "ana"),
            session("approvers", "y", "ana"),
            ApprovalPolicy(),
            False,
            "self_approval",
        ),
        (
            "Studio: same user profile",
            {"UserProfileName": "ana", "DomainId": "d-1"},
            {"UserProfileName": "ana", "DomainId": "d-1"},
            ApprovalPolicy(),
            False,
            "self_approval",
        ),
        (
            "one session, its SourceIdentity on one side only",
            session("DataScience", "alice", "alice@corp"),
            session("DataScience", "alice"),
            ApprovalPolicy(),
            False,
            "self_approval",
        ),
        (
            "one session, a Studio profile on one side only",
            {**session("ds", "alice"), "UserProfileName": "alice", "DomainId": "d-1"},
            session("ds", "alice"),
            ApprovalPolicy(),
            False,
            "self_approval",
        ),
        (
            "Studio: two profiles, one execution role session",
            {**session("exec", "SageMaker"), "UserProfileName": "ana", "DomainId": "d-1"},
            {**session("exec", "SageMaker"), "UserProfileName": "bo", "DomainId": "d-1"},
            ApprovalPolicy(),
            False,
            None,
        ),
        (
            "no kind of identifier in common",
            {"UserProfileName": "ana", "DomainId": "d-1"},
            user("bo"),
            ApprovalPolicy(),
            False,
            "unknown_registrant",
        ),
        ("allowed approver role", user("ana"), session("ml-approvers", "bo"), APPROVERS, False, None),
        ("approver not in the list", user("ana"), user("bo"), APPROVERS, False, "not_an_approver"),
        ("registrant unknown", None, user("bo"), ApprovalPolicy(), False, "unknown_registrant"),
        (
            "registrant malformed",
            {"IamIdentity": {"Arn": "nobody"}},
            user("bo"),
            ApprovalPolicy(),
            False,
            "unknown_registrant",
        ),
        ("approver unknown", user("ana"), {}, ApprovalPolicy(), False, "unknown_approver"),
        ("approver not a dict", user("ana"), "bo", NOT_DISTINCT, False, "unknown_approver"),
        ("the workflow auto-approved", user("ana"), session("ValidatorRole", "fn"), APPROVERS, True, None),
        (
            "a role named as the workflow's, in another account",
            user("ana"),
            session("ValidatorRole", "fn", account="999999999999"),
            APPROVERS,
            True,
            "not_an_approver",
        ),
        (
            "a workflow role, without auto-approval",
            user("ana"),
            session("ValidatorRole", "fn"),
            ApprovalPolicy(),
            False,
            "unknown_approver",
        ),
    ],
)
def test_four_eyes(case: str, created: Any, modified: Any, policy: ApprovalPolicy, auto: bool, refusal: str) -> None:
    verdict = judge_approval(
        package(created, modified),
        policy,
        event_last_modified=T0,
        workflow_roles=frozenset({"ValidatorRole"}),
        auto_approved=auto,
    )
    assert verdict.refusal == refusal, (case, verdict)
    assert verdict.allowed is (refusal is None)


def test_a_change_after_the_approval_hides_the_approver() -> None:
    later = package(user("ana"), user("bo"), at=T0 + timedelta(seconds=2))
    verdict = judge_approval(later, ApprovalPolicy(), event_last_modified=T0, auto_approved=False)
    assert verdict.refusal == "unknown_approver"
    assert "changed after it was approved" in (verdict.reason or "")


def test_a_change_within_the_same_second_is_the_approval() -> None:
    # the events' precision is not documented: Describe's time within one second is the same change
    verdict = judge_approval(
        package(user("ana"), user("bo"), at=T0 + timedelta(milliseconds=400)),
        ApprovalPolicy(),
        event_last_modified=T0,
        auto_approved=False,
    )
    assert verdict.allowed


def test_identity_prefers_the_person_over_the_session() -> None:
    identity = identity_of(session("approvers", "x", source="ana@example.com"))
    assert identity is not None
    assert identity.person == "ana@example.com"
    assert identity.role_arn == f"arn:aws:iam::{ACCOUNT}:role/approvers"
