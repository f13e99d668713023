"""The README's twin walkthrough, run verbatim (only the port differs) on a fresh twin."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO
from twin_process import RunningTwin

pytestmark = pytest.mark.e2e

MARKER = "<!-- readme-walkthrough -->"


def walkthrough() -> str:
    """The bash block right after the README's walkthrough marker."""
    readme = (REPO / "README.md").read_text()
    assert MARKER in readme, "the README lost its walkthrough marker"
    match = re.search(r"```bash\n(.*?)```", readme[readme.index(MARKER) :], re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_readme_walkthrough_runs_verbatim_on_a_fresh_twin(running_twin: RunningTwin, tmp_path: Path) -> None:
    # GIVEN the README's block, pointed at this twin's port (the README's is the default 4599)
    script = walkthrough().replace("http://127.0.0.1:4599", running_twin.url)
    assert running_twin.url not in walkthrough()
    (tmp_path / "walkthrough.sh").write_text(script)

    # WHEN a new user pastes it into a shell at the repository's root
    env = {k: v for k, v in running_twin.env.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", str(tmp_path / "walkthrough.sh")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )

    # THEN every command succeeds: v1 validated, self-approval refused, the reviewer's deployed, audit verified
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "chain verified:" in done.stdout
    assert re.search(r"rc-fraud-detection-endpoint\s+v1\s", done.stdout)
    running_twin.idle()
    outcomes = running_twin.log()["outcomes"]
    assert all(o["ok"] for o in outcomes), [o for o in outcomes if not o["ok"]]
