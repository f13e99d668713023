"""The twin as a user runs it: `registry-workflow local` in its own process, driven over HTTP only."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class RunningTwin:
    url: str
    control_url: str
    process: subprocess.Popen[str]
    env: dict[str, str]
    output: IO[str]

    def stop(self) -> str:
        """SIGTERM (what Ctrl-C does), wait, and return everything the twin printed."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)
        self.output.seek(0)
        return self.output.read()

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(service, endpoint_url=self.url, region_name="us-east-1")

    def aws_cli(self, *args: str) -> str:
        result = subprocess.run(
            [str(BIN / "aws"), "--endpoint-url", self.url, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return result.stdout

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "registry-workflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )

    def control(self, path: str, body: str = "") -> None:
        request = urllib.request.Request(f"{self.control_url}{path}", data=body.encode(), method="POST")
        urllib.request.urlopen(request, timeout=10)

    def log(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.control_url}/twin/log", timeout=10) as response:
            return json.loads(response.read())

    def idle(self) -> None:
        with urllib.request.urlopen(f"{self.control_url}/twin/idle", timeout=30) as response:
            assert json.loads(response.read())["idle"]


def start_twin(workdir: Path, *extra_args: str) -> RunningTwin:
    """Start `registry-workflow local --port 0` and wait for its ready line."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    output = (workdir / "twin.log").open("w+")
    process = subprocess.Popen(
        [str(BIN / "registry-workflow"), "local", "--port", "0", "--transition-seconds", "0.3", *extra_args],
        cwd=REPO,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        output.seek(0)
        match = re.search(r"ready: AWS twin on (\S+) \(control: (\S+)\)", output.read())
        if match:
            return RunningTwin(
                match.group(1), match.group(2), process, {**env, "AWS_ENDPOINT_URL": match.group(1)}, output
            )
        time.sleep(0.1)
    output.seek(0)
    process.kill()
    raise RuntimeError(f"the twin did not start:\n{output.read()}")
