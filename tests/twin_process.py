"""The twin as a user runs it: `registry-workflow local` in its own process, driven over HTTP only."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
_REVIEWER_LOCK = threading.Lock()
_CLIENTS_LOCK = threading.Lock()
#: one in-process CLI run at a time: it sets the process's environment and working directory
_CLI_LOCK = threading.Lock()
#: variables of the test process a user of the twin does not have
_NOT_THE_USERS = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_SESSION_TOKEN")


@dataclass
class RunningTwin:
    url: str
    control_url: str
    process: subprocess.Popen[str]
    env: dict[str, str]
    output: IO[str]
    region: str = "us-east-1"
    _reviewer: dict[str, str] | None = None
    _sessions: dict[bool, Any] = field(default_factory=dict)
    _clients: dict[tuple[str, bool], Any] = field(default_factory=dict)

    def stop(self, stop_signal: int = signal.SIGTERM) -> str:
        """One SIGTERM (or `stop_signal`: SIGINT is Ctrl-C), wait, and return everything the twin printed."""
        if self.process.poll() is None:
            self.process.send_signal(stop_signal)
            self.process.wait(timeout=20)
        self.output.seek(0)
        return self.output.read()

    def survivors(self) -> bool:
        """Whether any process the twin started (its session: workers, environments) is still alive."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def client(self, service: str, *, as_reviewer: bool = False) -> Any:
        """A client of this twin, as its user or as the reviewer; one per (service, person), made once."""
        keys = self.reviewer() if as_reviewer else {}
        with _CLIENTS_LOCK:  # boto3 sessions are not thread-safe while they build a client
            made = self._clients.get((service, as_reviewer))
            if made is None:
                if as_reviewer not in self._sessions:
                    self._sessions[as_reviewer] = boto3.session.Session(
                        aws_access_key_id=keys.get("AWS_ACCESS_KEY_ID", "testing"),
                        aws_secret_access_key=keys.get("AWS_SECRET_ACCESS_KEY", "testing"),
                    )
                made = self._sessions[as_reviewer].client(service, endpoint_url=self.url, region_name=self.region)
                self._clients[(service, as_reviewer)] = made
            return made

    def reviewer(self) -> dict[str, str]:
        """Credentials of a second person (an IAM user of the twin): the gate refuses self-approval."""
        with _REVIEWER_LOCK:  # approvals may run from several threads at once
            return self._create_reviewer()

    def _create_reviewer(self) -> dict[str, str]:
        if self._reviewer is None:
            iam = self.client("iam")
            iam.create_user(UserName="reviewer")
            key = iam.create_access_key(UserName="reviewer")["AccessKey"]
            self._reviewer = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        return self._reviewer

    def aws_cli(self, *args: str, as_reviewer: bool = False) -> str:
        env = {**self.env, **self.reviewer()} if as_reviewer else self.env
        result = subprocess.run(
            [str(BIN / "aws"), "--endpoint-url", self.url, *args],
            env=env,
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

    def read(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The same CLI command as `cli`, run in this process: for the reads a test polls.

        A `registry-workflow` process costs about 0.6 s of CPU (interpreter, imports, clients);
        a test that polls `status` or `history` every 0.1 s spent a core on it, starving the twin
        it waits for. The commands a test is about stay in their own process (`cli`); the README
        walkthrough and the CLI tests run `status` and `history` as processes too.
        """
        from click.testing import CliRunner
        from registry_workflow.cli import main

        options = {"mix_stderr": False} if "mix_stderr" in inspect.signature(CliRunner).parameters else {}
        with _CLI_LOCK, contextlib.chdir(REPO):
            # the process's variables the user's shell would not have are unset for the run, as `cli` drops them
            env: dict[str, str | None] = {**dict.fromkeys(_NOT_THE_USERS), **self.env}
            result = CliRunner(env=env, **options).invoke(main, list(args), catch_exceptions=False)
        return subprocess.CompletedProcess(["registry-workflow", *args], result.exit_code, result.stdout, result.stderr)

    def control(self, path: str, body: str = "") -> None:
        request = urllib.request.Request(f"{self.control_url}{path}", data=body.encode(), method="POST")
        urllib.request.urlopen(request, timeout=10)

    def log(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.control_url}/twin/log", timeout=10) as response:
            return json.loads(response.read())

    def idle(self) -> None:
        with urllib.request.urlopen(f"{self.control_url}/twin/idle", timeout=30) as response:
            assert json.loads(response.read())["idle"]


def start_twin(workdir: Path, *extra_args: str, region: str = "us-east-1") -> RunningTwin:
    """Start `registry-workflow local --port 0` as a user whose AWS_DEFAULT_REGION is `region`; wait until ready."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "PYTHONUNBUFFERED": "1",
    }
    for key in _NOT_THE_USERS:
        env.pop(key, None)
    output = (workdir / "twin.log").open("w+")
    process = subprocess.Popen(
        [str(BIN / "registry-workflow"), "local", "--port", "0", "--transition-seconds", "0.3", *extra_args],
        cwd=REPO,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: `survivors` can tell whether anything outlived it
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        output.seek(0)
        match = re.search(r"ready: AWS twin on (\S+) \(control: (\S+)\)", output.read())
        if match:
            return RunningTwin(
                match.group(1), match.group(2), process, {**env, "AWS_ENDPOINT_URL": match.group(1)}, output, region
            )
        time.sleep(0.1)
    output.seek(0)
    process.kill()
    raise RuntimeError(f"the twin did not start:\n{output.read()}")


def start_twin_with_policy(workdir: Path, policy: str, *, region: str) -> RunningTwin:
    """The twin on a copy of the repository's config whose policy.toml ends with `policy`; groups provisioned."""
    import shutil

    from workflow_steps import create_bucket

    config = workdir / "config"
    shutil.copytree(REPO / "config", config)
    (config / "policy.toml").write_text((REPO / "config" / "policy.toml").read_text() + policy)
    running = start_twin(workdir, "--config-dir", str(config), region=region)
    running.env["REGISTRY_CONFIG_DIR"] = str(config)
    assert running.cli("provision").returncode == 0
    create_bucket(running)
    return running
