"""Benchmark: provision N groups three ways against a local moto server in its own process.

1. `registry-workflow provision`'s code (reconcile: one paginated listing, bounded-concurrency creates)
2. the seed's way: one `aws sagemaker create-model-package-group` process per group
   (sampled: --cli-sample groups are timed and the per-group cost is scaled to N; --cli-sample N runs all)
3. a raw boto3 create loop, the floor

Then a re-run of (1) on the up-to-date account, counting its API calls.
Run: .venv/bin/python bench/provision.py [--groups 300] [--cli-sample 30]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from registry_workflow.aws import RETRY_CONFIG
from registry_workflow.config import parse_config
from registry_workflow.provisioning import GroupState, reconcile
from targets import target_line

PORT = 5077
URL = f"http://127.0.0.1:{PORT}"
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
BIN = Path(sys.executable).parent


def generated_config(n: int) -> Any:
    teams = [f"t{i}" for i in range(math.ceil(n / 50))]
    lines = [f'TEAMS="{" ".join(teams)}"']
    remaining = n
    for team in teams:
        count = min(50, remaining)
        lines.append(f'{team.upper()}_PROJECTS="{" ".join(f"project-{j}" for j in range(count))}"')
        remaining -= count
    return parse_config("\n".join(lines) + "\n")


def reset() -> None:
    urllib.request.urlopen(urllib.request.Request(f"{URL}/moto-api/reset", method="POST"))


def client() -> Any:
    return boto3.session.Session().client("sagemaker", endpoint_url=URL, config=RETRY_CONFIG)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--cli-sample", type=int, default=30)
    args = parser.parse_args()
    os.environ.update(ENV)
    server = subprocess.Popen(
        [sys.executable, "-m", "registry_workflow.local.server", "--port", str(PORT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert "ready" in server.stdout.readline()
        run(args.groups, args.cli_sample)
    finally:
        server.terminate()
        server.wait()


def run(n: int, cli_sample: int) -> None:
    config = generated_config(n)
    names = config.group_names

    reset()
    sagemaker = client()
    sagemaker.list_model_package_groups()  # warm the connection pool, like the others get
    started = time.perf_counter()
    report = reconcile(config, sagemaker)
    ours = time.perf_counter() - started
    assert len(report.names(GroupState.CREATED)) == n, report.summary()

    calls: list[str] = []
    sagemaker.meta.events.register("before-call.sagemaker.*", lambda event_name, **_: calls.append(event_name))
    started = time.perf_counter()
    again = reconcile(config, sagemaker)
    rerun = time.perf_counter() - started
    assert len(again.names(GroupState.PRESENT)) == n

    reset()
    raw = client()
    raw.list_model_package_groups()
    started = time.perf_counter()
    for name in names:
        raw.create_model_package_group(ModelPackageGroupName=name)
    floor = time.perf_counter() - started

    reset()
    sample = names[: min(cli_sample, n)]
    started = time.perf_counter()
    for name in sample:
        subprocess.run(
            [
                str(BIN / "aws"),
                "--endpoint-url",
                URL,
                "sagemaker",
                "create-model-package-group",
                "--model-package-group-name",
                name,
            ],
            check=True,
            capture_output=True,
        )
    cli_per_group = (time.perf_counter() - started) / len(sample)
    cli = cli_per_group * n

    print(f"N = {n} groups (moto server in its own process, 127.0.0.1)")
    print(f"  registry-workflow provision : {ours:7.2f} s  ({n / ours:6.0f} groups/s)")
    print(f"  raw boto3 create loop       : {floor:7.2f} s  ({n / floor:6.0f} groups/s)")
    sampled = "" if len(sample) == n else f"  (sampled {len(sample)} processes, scaled to {n})"
    print(f"  seed's CLI loop             : {cli:7.2f} s  ({cli_per_group:.2f} s/group){sampled}")
    print(f"  speed-up vs CLI loop        : {cli / ours:7.1f}x   (target >= 50x)")
    print(f"  time vs raw boto3 loop      : {ours / floor:7.2f}x   (target <= 1.25x)")
    print(
        f"  re-run on up-to-date account: {rerun:7.2f} s, {len(calls)} API calls "
        f"(target <= {math.ceil(n / 100) + 1}), 0 writes: {all('Create' not in c for c in calls)}"
    )
    rerun_calls, no_writes = len(calls), all("Create" not in c for c in calls)
    target_line(f"provision {n} groups vs the seed's CLI loop", f"{cli / ours:.0f}x faster", ">= 50x", cli / ours >= 50)
    target_line(f"provision {n} groups vs a raw boto3 loop", f"{ours / floor:.2f}x", "<= 1.25x", ours / floor <= 1.25)
    limit = math.ceil(n / 100) + 1
    target_line(
        "provision re-run, up to date",
        f"{rerun_calls} calls, {'0 writes' if no_writes else 'writes'}",
        f"<= {limit} calls, 0 writes",
        rerun_calls <= limit and no_writes,
    )


if __name__ == "__main__":
    main()
