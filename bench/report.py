"""Benchmark: the HTML report for a large fleet, through the same rendering code as `registry-workflow report`.

Builds synthetic `ReportData` (no AWS: collecting is one ledger Query, one audit Query, one
ListModelPackages and one DescribeModelPackage per version; what this measures is what comes after)
for --projects projects of --versions versions each: two policy metrics (auc with min and
max_regression, latency with max), eight audit entries per version, one live deployment per
project. Renders it with `registry_workflow.report.render` and reports the page's size, the time
to render and the time per chart.
Run: .venv/bin/python bench/report.py [--projects 300] [--versions 20] [--out build/bench-report.html]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from registry_workflow.audit import AuditEntry
from registry_workflow.ledger import Deployment, DeploymentStatus
from registry_workflow.report import EndpointView, ProjectView, ReportData, Thresholds, VersionView, render

KINDS = ("registered", "validated", "approved", "deploying", "deployed", "rejected", "deploying", "rolled_back")


def synthetic(projects: int, versions: int, seed: int = 15) -> ReportData:
    rng = random.Random(seed)
    views = []
    for p in range(projects):
        group = f"team{p % 10:02d}-project-{p:03d}"
        endpoint = f"{group}-endpoint"
        history = []
        for v in range(1, versions + 1):
            entries = [
                AuditEntry(
                    group=group,
                    seq=(v - 1) * len(KINDS) + i + 1,
                    kind=kind,
                    time=f"2026-12-{1 + v % 28:02d}T10:{i:02d}:00.000000Z",
                    actor="arn:aws:iam::123456789012:user/reviewer"
                    if kind in {"approved", "rejected"}
                    else "registry-workflow",
                    version=v,
                    package_arn=f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/{v}",
                    event_id=f"event-{p}-{v}-{i}",
                    reason="passed validation (policy 1c43dbab5762)" if kind == "validated" else None,
                    details={"metrics": "auc=0.9 latency=120"} if kind == "validated" else {},
                )
                for i, kind in enumerate(KINDS)
            ]
            history.append(
                VersionView(
                    v,
                    arn=entries[0].package_arn,
                    approval_status="Approved" if v % 3 else "Rejected",
                    registered_at=entries[0].time,
                    validation="passed",
                    metrics={"auc": round(rng.uniform(0.78, 0.95), 4), "latency": round(rng.uniform(80, 160), 1)},
                    entries=entries,
                )
            )
        live = Deployment(
            deployment_id=f"d-{p:016x}",
            endpoint=endpoint,
            group=group,
            version=versions - 1,
            package_arn=history[-2].arn or "",
            model_name=f"{group}-v{versions - 1}-00000000",
            endpoint_config_name=f"{endpoint}-v{versions - 1}-00000000",
            strategy="canary",
            status=DeploymentStatus.SUCCEEDED,
            approver="arn:aws:iam::123456789012:user/reviewer",
            created_at="2026-12-01T10:00:00.000000Z",
            finished_at="2026-12-01T10:05:00.000000Z",
        )
        views.append(
            ProjectView(
                group,
                endpoints=[EndpointView(endpoint, live=live, in_flight=[], queued=[])],
                versions=history,
                thresholds={"auc": Thresholds(min=0.8, max_regression=0.02), "latency": Thresholds(max=150)},
            )
        )
    return ReportData(views, source="synthetic data (bench/report.py)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--out", default="build/bench-report.html")
    args = parser.parse_args()

    data = synthetic(args.projects, args.versions)
    started = time.perf_counter()
    page = render(data)
    seconds = time.perf_counter() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    charts = page.count("<svg")
    size = len(page.encode())
    print(f"{args.projects} projects x {args.versions} versions: {charts} charts, {size / 1e6:.1f} MB, {seconds:.1f} s")
    per_project = f"{size / args.projects / 1e3:.0f} KB, {seconds / args.projects * 1e3:.0f} ms"
    print(f"  per project: {per_project}; per chart {seconds / charts * 1e3:.1f} ms")
    print(f"  written to {out.resolve()}")


if __name__ == "__main__":
    main()
