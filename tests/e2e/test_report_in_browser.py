"""The report as a person sees it: the demo's story on the twin, its report opened in headless Chromium.

`python -m registry_workflow.demo <out>` runs the whole story (refused self-approval, v1 live, v2
auto-rejected, v3 live then rejected and rolled back) and ends by writing the report with
`registry-workflow report`. Chromium (Debian's `chromium` package) loads the file with the network
off, and what it parsed — its DOM — must hold the tables and the charts with the right versions; a
screenshot is kept in the test's tmp dir.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.e2e

GROUP = "rc-fraud-detection"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip(
            "headless Chromium is not installed (Debian: apt-get install -y chromium): the report is not opened"
        )
    return found


def browse(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium headless on a local file, offline (no proxy, no network service reachable)."""
    command = [
        browser,
        "--headless",
        "--no-sandbox",  # root in CI
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--proxy-server=127.0.0.1:9",  # any request to the network would fail: the page needs none
        f"--user-data-dir={profile}",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


class Dom(HTMLParser):
    """The parts of Chromium's DOM the test reads: table rows by class, chart figures and their svg."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, list[list[str]]] = {}
        self.charts: dict[str, int] = {}
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append((tag, dict(attrs)))
        if tag == "tr":
            self._row = []
        elif tag in {"td", "th"} and self._row is not None:
            self._cell = []
        elif tag == "svg":
            figure = next((a for t, a in reversed(self.stack) if t == "figure"), None)
            if figure is not None:
                metric = str(figure.get("data-metric"))
                self.charts[metric] = self.charts.get(metric, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = next((a.get("class") or a.get("id") for t, a in reversed(self.stack) if t == "table"), "")
            self.rows.setdefault(str(table), []).append(self._row)
            self._row = None
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_the_demos_report_opens_in_chromium_with_its_tables_and_charts(tmp_path: Path) -> None:
    browser = chromium()
    # GIVEN the demo's story run on the twin, ending with its report
    page = tmp_path / "report.html"
    demo = subprocess.run(
        [sys.executable, "-m", "registry_workflow.demo", str(page)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-2000:]
    assert f"report: {page.resolve()}" in demo.stdout

    # WHEN Chromium opens it
    dumped = browse(browser, page, tmp_path / "profile", "--dump-dom")
    shot = tmp_path / "report.png"
    browse(browser, page, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}")

    # THEN what it parsed has the live table: v1 live on the endpoint again after the rollback
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = Dom()
    dom.feed(dumped.stdout)
    live = {row[0]: row for row in dom.rows["live-table"][1:]}
    assert live[GROUP][1:3] == [f"{GROUP}-endpoint", "v1"]
    # the staged project: one row per stage, v1 live in both after v2's rejection rolled both back
    aml = [row[1:3] for row in dom.rows["live-table"][1:] if row[0] == "rc-anti-money-laundering"]
    assert aml == [["rc-anti-money-laundering-staging", "v1"], ["rc-anti-money-laundering-production", "v1"]]
    # the versions of the group, v1 the champion and live, v2 rejected by validation, v3 rejected by a reviewer
    versions = [r for r in dom.rows["versions"] if re.match(r"v\d", r[0])]
    fraud = versions[:3]
    assert [r[0] for r in fraud] == ["v1 ★ champion ● live", "v2", "v3"]
    assert [r[1:3] for r in fraud] == [["Approved", "passed"], ["Rejected", "failed"], ["Rejected", "passed"]]
    assert [r[3] for r in fraud] == ["0.91", "0.71", "0.92"]  # auc, from the validation stamps
    # the timeline: who and why, from the audit trail
    timeline = [r for r in dom.rows["timeline"] if re.match(r"v\d", r[0])]
    refused = [r for r in timeline if r[2] == "approval refused"]
    assert refused[0][0] == "v1"
    assert "approved by its own registrant" in refused[0][4]
    assert ["v3", "rolled back"] in [r[0:3:2] for r in timeline]
    assert any(r[2] == "rejected" and r[0] == "v2" and "auc 0.71 < min 0.8" in r[4] for r in timeline)
    # one chart per policy metric of each project the demo registers versions of, drawn as SVG:
    # fraud's auc and accuracy, the staged AML project's recall, the Slack-approved algo's rmse
    assert dom.charts == {"auc": 1, "accuracy": 1, "recall": 1, "rmse": 1}
    assert re.search(r"<figure[^>]*data-metric=\"auc\"[^>]*>\s*<svg", dumped.stdout)
    assert "champion v1" in dumped.stdout
    assert "min 0.8" in dumped.stdout
    # and a screenshot a person can look at
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
