"""`registry-workflow report`: one self-contained HTML page per run, for people who would rather look.

Per project: what is live on which endpoint (from the ledger), a timeline of every version
(registered → validated → approved / rejected / refused → deployed / rolled back, who and why:
the audit trail), and each policy metric across versions as a chart with the policy's thresholds
and the champion marked. Metrics come from the versions' validation stamps
(`validation.metrics` in `CustomerMetadataProperties`, via DescribeModelPackage), else from the
audit trail's "validated" entry; thresholds from the project's policy in config.

A row is one *incarnation* of a version. A group deleted (all its versions first) and created
again under the same name restarts at v1 under the same ARNs, while the audit trail and the ledger
keep the old v1's entries and deployments. An audit entry records the CreationTime of the version
it is about (`details["created"]`): one about an older CreationTime than SageMaker's current N
belongs to an earlier incarnation (deleted with the earlier group), shown as its own row before the
current one ("v1 (earlier group, deleted)", `data-incarnation="earlier"`), with the metrics of its
own "validated" entry, never the champion. Entries written before they recorded it go by when they
were written (before the current N's CreationTime: earlier). A ledger record marks a row live when
its `package_created` is that row's CreationTime (or, for records written before it was kept, is
missing: the current row); an older one marks the earlier row. A group recreated twice shows both
earlier incarnations in one earlier row.

Charts are SVG drawn by pygal on this side and inlined: the page needs no network and no
JavaScript (the tables are plain HTML). Everything that came from AWS or config is escaped by
Jinja2's autoescape; pygal escapes the text it puts in its SVG (a test keeps both true).

For the operator CLI only: no Lambda handler imports this module (pygal and Jinja2 are not in the
layer; a test checks).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.audit import AuditEntry, AuditTrail
from registry_workflow.config import RegistryConfig
from registry_workflow.ledger import Deployment, DeploymentLedger, DeploymentStatus, live_of
from registry_workflow.validation import APPROVED, METRICS_KEY, STATUS_KEY, stamped_metrics

#: what an audit entry's kind is called on the page, in the order a version meets them
KIND_LABELS = {
    "registered": "registered",
    "validated": "validated",
    "approved": "approved",
    "rejected": "rejected",
    "refused": "approval refused",
    "withdrawn": "approval withdrawn",
    "queued": "queued",
    "deploying": "deploying",
    "deployed": "deployed",
    "superseded": "superseded",
    "failed": "deployment failed",
    "rolled_back": "rolled back",
}


# --- the data a report shows --------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """The project's validation policy for one metric (None where the policy has no such rule)."""

    min: float | None = None
    max: float | None = None
    max_regression: float | None = None

    @property
    def lower_is_better(self) -> bool:
        return self.max is not None and self.min is None


@dataclass
class VersionView:
    """One incarnation of a version of a group: its approval status, stamped metrics and audit entries."""

    version: int
    arn: str | None = None
    approval_status: str | None = None
    registered_at: str | None = None
    validation: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    entries: list[AuditEntry] = field(default_factory=list)
    #: SageMaker's CreationTime of this incarnation (None: it no longer exists, or was never read)
    created: datetime | None = None
    #: an incarnation deleted with an earlier group of the same name (its number now names another)
    earlier: bool = False

    @property
    def label(self) -> str:
        return f"v{self.version} (earlier group, deleted)" if self.earlier else f"v{self.version}"

    @property
    def short_label(self) -> str:
        """The label on a chart's x axis and in notes: tells an earlier incarnation from the current."""
        return f"v{self.version} (earlier)" if self.earlier else f"v{self.version}"


@dataclass(frozen=True)
class EndpointView:
    """What runs on one endpoint, from the ledger."""

    endpoint: str
    live: Deployment | None
    in_flight: list[Deployment]
    queued: list[Deployment]


@dataclass
class ProjectView:
    group: str
    configured: bool = True
    endpoints: list[EndpointView] = field(default_factory=list)
    versions: list[VersionView] = field(default_factory=list)
    thresholds: dict[str, Thresholds] = field(default_factory=dict)
    #: what the report could not show, in words (versions without metrics, a group with none, …)
    notes: list[str] = field(default_factory=list)

    @property
    def champion(self) -> int | None:
        """The validator's champion: the highest Approved version (new versions are compared with it)."""
        view = self.champion_view
        return None if view is None else view.version

    @property
    def champion_view(self) -> VersionView | None:
        """The champion's row: a current incarnation (approval status from SageMaker), never an earlier one."""
        approved = [v for v in self.versions if not v.earlier and v.approval_status == APPROVED]
        return max(approved, key=lambda v: v.version, default=None)

    def is_live(self, view: VersionView) -> bool:
        """Whether a ledger record says this incarnation is live on one of the endpoints."""
        return any(e.live is not None and self._serves(e.live, view) for e in self.endpoints)

    def live_label(self, endpoint: EndpointView) -> str:
        """What is live on `endpoint`, as the versions table names it ("-" for nothing)."""
        if endpoint.live is None:
            return "-"
        row = next((v for v in self.versions if self._serves(endpoint.live, v)), None)
        return row.label if row is not None else f"v{endpoint.live.version}"

    def _serves(self, record: Deployment, view: VersionView) -> bool:
        if record.version != view.version:
            return False
        if view.earlier:
            current = self._current(view.version)
            return current is not None and current.created is not None and _of_an_older(record, current.created)
        if view.created is None:
            return True  # a version SageMaker no longer has: the record is all there is
        created = _parse_time(record.package_created)
        if created is not None:
            return _ms(created) == _ms(view.created)
        return not _of_an_older(record, view.created)  # a record from before package_created was kept

    def _current(self, version: int) -> VersionView | None:
        return next((v for v in self.versions if v.version == version and not v.earlier), None)

    @property
    def chart_metrics(self) -> list[str]:
        """The policy's metrics first (in policy order), then any other metric a stamp recorded."""
        names = list(self.thresholds)
        for view in self.versions:
            names.extend(m for m in view.metrics if m not in names)
        return names


@dataclass
class ReportData:
    projects: list[ProjectView]
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    source: str = ""
    notes: list[str] = field(default_factory=list)


# --- collecting it: the ledger table, the audit trail, SageMaker, config -------------------------


def collect(
    groups: Iterable[str],
    config: RegistryConfig,
    ledger_table: str,
    *,
    sagemaker: Any | None = None,
    dynamodb: Any | None = None,
) -> ReportData:
    """Read what the report shows for `groups` (none: every configured group and every audited one)."""
    sm = sagemaker or aws.client("sagemaker")
    ledger = DeploymentLedger(ledger_table, client=dynamodb)
    trail = AuditTrail(ledger_table, client=dynamodb)
    wanted = list(dict.fromkeys(groups))
    notes: list[str] = []
    if not wanted:
        wanted = list(config.group_names)
        wanted.extend(g for g in trail.groups() if g not in wanted)
        if not wanted:
            notes.append("no groups: nothing is configured and the ledger holds no audit trail")
    projects = [_project(group, config, ledger, trail, sm) for group in wanted]
    return ReportData(projects, source=f"ledger table {ledger_table}", notes=notes)


def _project(group: str, config: RegistryConfig, ledger: DeploymentLedger, trail: AuditTrail, sm: Any) -> ProjectView:
    project = config.project_for_group(group)
    view = ProjectView(group, configured=project is not None)
    if project is None:
        view.notes.append("not in config/.env.shared: no policy thresholds to show")
    else:
        view.thresholds = thresholds_of(project.policy.validation)
    records = ledger.history(group)
    configured = [s.endpoint for s in project.stages] if project and project.policy.deploy.enabled else []
    endpoints = list(dict.fromkeys([*configured, *(r.endpoint for r in records)]))
    view.endpoints = [endpoint_view(e, [r for r in records if r.endpoint == e]) for e in endpoints]
    versions: dict[int, VersionView] = {}
    #: incarnations deleted with an earlier group of the same name, by the number they had
    earlier: dict[int, VersionView] = {}
    try:
        for summary in _list_versions(sm, group):
            number = int(summary.get("ModelPackageVersion") or 0)
            described = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            metadata = described.get("CustomerMetadataProperties") or {}
            created = described.get("CreationTime")
            versions[number] = VersionView(
                number,
                arn=summary["ModelPackageArn"],
                approval_status=described.get("ModelApprovalStatus"),
                registered_at=_time(created),
                validation=metadata.get(STATUS_KEY),
                metrics=stamped_metrics(metadata),
                created=_aware(created) if isinstance(created, datetime) else None,
            )
    except (ClientError, BotoCoreError) as exc:
        view.notes.append(f"versions could not be read from SageMaker: {exc}")
    for entry in trail.entries(group):
        if entry.version is None:
            continue
        current = versions.get(entry.version)
        if current is not None and current.created is not None and _before(entry, current.created):
            # written before the current incarnation existed: the version of a deleted, earlier group
            version = earlier.setdefault(entry.version, _earlier_view(entry.version, entry.package_arn))
        else:
            version = versions.setdefault(entry.version, VersionView(entry.version, arn=entry.package_arn))
        version.entries.append(entry)
        if entry.kind == "validated" and not version.metrics:
            # the stamp is gone or was never written: the audit trail kept what the validator saw
            version.metrics = stamped_metrics({METRICS_KEY: entry.details.get("metrics", "")})
            version.validation = version.validation or entry.details.get("result")
    for endpoint in view.endpoints:
        # an earlier incarnation still served by an endpoint has a row even without audit entries
        live = endpoint.live
        current = versions.get(live.version) if live is not None else None
        if live is None or current is None or current.created is None or live.version in earlier:
            continue
        if _of_an_older(live, current.created):
            earlier[live.version] = _earlier_view(live.version, live.package_arn)
    view.versions = [v for n in sorted({*versions, *earlier}) for v in (earlier.get(n), versions.get(n)) if v]
    if earlier:
        listed = ", ".join(f"v{n}" for n in sorted(earlier))
        view.notes.append(
            f"{listed} {'appears' if len(earlier) == 1 else 'appear'} twice: the group was deleted and created"
            " again; rows marked 'earlier' are the deleted group's"
        )
    add_missing_notes(view)
    return view


def _before(entry: AuditEntry, created: datetime) -> bool:
    """Is `entry` about an incarnation created before `created` (a deleted, earlier group's)?

    Its own record of the version's CreationTime (`details["created"]`, kept since entries carry
    it) decides, to the millisecond; an entry without one goes by when it was written.
    """
    about = _parse_time(entry.details.get("created"))
    if about is not None:
        return _ms(about) < _ms(created)
    written = _parse_time(entry.time)
    return written is not None and written < created


def _of_an_older(record: Deployment, created: datetime) -> bool:
    """Is this deployment of a version created before `created` (a deleted, earlier group's)?

    Its `package_created` decides, to the millisecond; a record from before that was kept goes by
    when it was made (`created_at`: after its version was approved, so after it was created).
    """
    about = _parse_time(record.package_created)
    if about is not None:
        return _ms(about) < _ms(created)
    made = _parse_time(record.created_at)
    return made is not None and made < created


def _earlier_view(version: int, arn: str | None) -> VersionView:
    return VersionView(version, arn=arn, earlier=True)


def _list_versions(sm: Any, group: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in sm.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, ModelPackageType="Versioned", SortBy="CreationTime", SortOrder="Ascending"
    ):
        found.extend(page.get("ModelPackageSummaryList", []))
    return found


def thresholds_of(policy: Any) -> dict[str, Thresholds]:
    """Per metric named by the validation policy: its min, max and max_regression rules."""
    names = list(dict.fromkeys([*policy.min, *policy.max, *policy.max_regression]))
    return {
        n: Thresholds(min=policy.min.get(n), max=policy.max.get(n), max_regression=policy.max_regression.get(n))
        for n in names
    }


def endpoint_view(endpoint: str, records: list[Deployment]) -> EndpointView:
    """Live, in-flight and queued deployments of one endpoint (`records` are its ledger records)."""
    return EndpointView(
        endpoint,
        live=live_of(records),
        in_flight=[r for r in records if r.status == DeploymentStatus.IN_PROGRESS],
        queued=[r for r in records if r.status == DeploymentStatus.QUEUED],
    )


def add_missing_notes(view: ProjectView) -> None:
    """Say in words what the page cannot show: no versions, versions without metrics, nothing live."""
    if not view.versions:
        view.notes.append("no versions registered")
        return
    for name in view.thresholds:
        lacking = [v.short_label for v in view.versions if name not in v.metrics]
        if lacking:
            listed = ", ".join(lacking)
            view.notes.append(f"metric {name} missing for {listed} (no validation stamp or audit entry with it)")
    if view.endpoints and all(e.live is None for e in view.endpoints):
        view.notes.append("nothing live: no deployment has succeeded yet")


def _time(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value) if value else None


def _parse_time(stamp: str | None) -> datetime | None:
    """An ISO-8601 time (audit entry, ledger record) as an aware datetime; None if missing or unreadable."""
    if not stamp:
        return None
    try:
        return _aware(datetime.fromisoformat(stamp))
    except ValueError:
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ms(value: datetime) -> datetime:
    """To the millisecond (SageMaker's precision), in UTC: how two records of one CreationTime compare."""
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


# --- rendering: Jinja2 (autoescaped) around pygal's SVG -------------------------------------------


def render(data: ReportData) -> str:
    """The whole report as one HTML document: no external resources, no script."""
    from jinja2 import Environment
    from markupsafe import Markup

    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["label"] = lambda kind: KIND_LABELS.get(kind, kind)
    env.filters["num"] = _num
    env.filters["when"] = _when
    charts = {
        p.group: [(name, Markup(metric_chart(p, name))) for name in p.chart_metrics]  # noqa: S704 - pygal escapes its text
        for p in data.projects
    }
    css = Markup(_CSS + chart_css())  # noqa: S704 - our constant and pygal's own stylesheet
    return env.from_string(_PAGE).render(data=data, charts=charts, css=css)


def write(data: ReportData, out: str | Path) -> Path:
    path = Path(out)
    path.write_text(render(data), encoding="utf-8")
    return path


def metric_chart(project: ProjectView, metric: str) -> str:
    """One metric across a project's versions as inline SVG: values, thresholds, the champion marked.

    The SVG carries no style of its own: `chart_css()`, once per page, styles every chart.
    """
    versions = project.versions
    rule = project.thresholds.get(metric, Thresholds())
    chart = _line_chart(metric)
    chart.x_labels = [v.short_label for v in versions]
    best = project.champion_view
    champion = None if best is None else best.version
    values: list[Any] = []
    for view in versions:
        value = view.metrics.get(metric)
        if value is not None and view is best:
            values.append({"value": value, "node": {"r": 7}, "style": "fill: #d4a017; stroke: #7a5c00"})
        else:
            values.append(value)
    chart.add(metric, values)
    champion_value = None if best is None else best.metrics.get(metric)
    if champion is not None and champion_value is not None:
        chart.add(f"champion v{champion}", [champion_value if v is best else None for v in versions])
    for label, level in _threshold_lines(rule, champion, champion_value):
        chart.add(label, [level] * len(versions), show_dots=False, stroke_style={"dasharray": "6, 4", "width": 2})
    svg, _ = _static_svg(chart.render_tree())
    return svg


def chart_css() -> str:
    """pygal's stylesheet for the charts (the same for all), scoped to `.pygal-chart`, once per page."""
    chart = _line_chart("")
    for series in range(_MAX_SERIES):  # pygal writes a colour rule per series of the chart it draws
        chart.add(str(series), [0.0])
    _, styles = _static_svg(chart.render_tree())
    return "\n".join(styles).replace(f"#chart-{chart.uuid}", ".pygal-chart")


#: the most series a chart has: the metric, the champion, min, max and the regression limit
_MAX_SERIES = 5


def _line_chart(title: str) -> Any:
    import pygal
    from pygal.style import DefaultStyle

    return pygal.Line(
        js=[],  # pygal's tooltips load a script from the network: the page must not (see _static_svg)
        disable_xml_declaration=True,
        explicit_size=True,
        width=520,
        height=300,
        show_x_guides=False,
        margin_right=28,
        title=title,
        x_title="version",
        print_values=True,
        print_values_position="top",
        value_formatter=_num,
        allow_interruptions=True,
        legend_at_bottom=True,
        truncate_legend=40,
        style=DefaultStyle(value_font_size=10, title_font_size=14, guide_stroke_color="#e1e4e8"),
    )


def _static_svg(tree: Any) -> tuple[str, list[str]]:
    """pygal's SVG as static markup, and the styles taken out of it.

    Out go its scripts (a config blob for tooltips the page does not load), comments, `desc`
    elements (tooltip data: the values are printed on the chart) and `style` elements (the same
    stylesheet in every chart, ~9 KB: `chart_css` puts it in the page once).
    """
    from xml.etree import ElementTree

    styles: list[str] = []
    for parent in tree.iter():
        for child in list(parent):
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag.endswith("style"):
                styles.append(child.text or "")
            if not tag or tag.endswith(("script", "desc", "style")):
                parent.remove(child)
    return ElementTree.tostring(tree, encoding="unicode"), styles


def _threshold_lines(rule: Thresholds, champion: int | None, champion_value: float | None) -> list[tuple[str, float]]:
    lines: list[tuple[str, float]] = []
    if rule.min is not None:
        lines.append((f"min {_num(rule.min)}", rule.min))
    if rule.max is not None:
        lines.append((f"max {_num(rule.max)}", rule.max))
    if rule.max_regression is not None and champion_value is not None:
        sign = 1 if rule.lower_is_better else -1
        level = champion_value + sign * rule.max_regression
        side = "ceiling" if rule.lower_is_better else "floor"
        lines.append((f"regression {side} {_num(level)} (v{champion})", level))
    return lines


def _when(stamp: str | None) -> str:
    """A ledger/audit time ("2026-01-02T03:04:05.678901Z") to the second, readable."""
    return stamp[:19].replace("T", " ") if stamp else "-"


def _num(value: float | None) -> str:
    return "-" if value is None else format(value, ".4g")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1b1f23;max-width:1200px}
h1{margin-bottom:.2rem} h2{margin-top:2.5rem;border-bottom:2px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.time{white-space:nowrap} .muted{color:#57606a}
.notes{background:#fff8c5;border:1px solid #d4a72c;padding:.5rem 1rem}
.k-approved,.k-deployed{color:#1a7f37;font-weight:600} .k-rejected,.k-refused,.k-failed{color:#cf222e;font-weight:600}
.k-rolled_back{color:#9a6700;font-weight:600} .charts{display:flex;flex-wrap:wrap;gap:1rem} figure.chart{margin:0}
nav a{margin-right:.8rem;white-space:nowrap;display:inline-block}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>registry-workflow report</title>
<style>{{ css }}</style>
</head>
<body>
<h1>registry-workflow report</h1>
<p class="muted">Generated {{ data.generated_at }} from {{ data.source }} ·
{{ data.projects|length }} project(s) · metrics from the versions' validation stamps, thresholds from config</p>
{% if data.notes %}
<div class="notes" id="report-notes">{% for note in data.notes %}<p>{{ note }}</p>{% endfor %}</div>
{% endif %}
{% if data.projects %}
<nav>{% for p in data.projects %}<a href="#p-{{ loop.index }}">{{ p.group }}</a>{% endfor %}</nav>
<h2 id="live">What is live where</h2>
<table id="live-table">
<thead><tr><th>project</th><th>endpoint</th><th>live</th><th>since</th><th>approved by</th>
<th>in flight</th><th>queued</th></tr></thead>
<tbody>
{% for p in data.projects %}
{% set project_no = loop.index %}
{% for e in p.endpoints %}
<tr><td><a href="#p-{{ project_no }}">{{ p.group }}</a></td><td>{{ e.endpoint }}</td>
<td>{{ p.live_label(e) }}</td>
<td class="time">{{ (e.live.finished_at if e.live else None)|when }}</td>
<td>{{ (e.live.approver if e.live else None) or "-" }}</td>
<td>{% for d in e.in_flight %}v{{ d.version }} ({{ d.kind }}){% if not loop.last %}, {% endif %}
{% else %}-{% endfor %}</td>
<td>{% for d in e.queued %}v{{ d.version }}{% if not loop.last %}, {% endif %}{% else %}-{% endfor %}</td></tr>
{% else %}
<tr><td>{{ p.group }}</td><td colspan="6" class="muted">no endpoint (deploy disabled or not configured)</td></tr>
{% endfor %}
{% endfor %}
</tbody>
</table>
{% endif %}
{% for p in data.projects %}
<section class="project" id="p-{{ loop.index }}" data-group="{{ p.group }}">
<h2>{{ p.group }}</h2>
{% if p.notes %}
<div class="notes">{% for note in p.notes %}<p>{{ note }}</p>{% endfor %}</div>
{% endif %}
{% if p.versions %}
<h3>Versions</h3>
<table class="versions">
<thead><tr><th>version</th><th>status</th><th>validation</th>
{% for m in p.chart_metrics %}<th>{{ m }}</th>{% endfor %}<th>registered</th></tr></thead>
<tbody>
{% for v in p.versions %}
<tr data-version="{{ v.version }}"{% if v.earlier %} data-incarnation="earlier"{% endif %}><td>{{ v.label }}
{%- if v is sameas p.champion_view %} ★ champion{% endif %}
{%- if p.is_live(v) %} ● live{% endif %}</td>
<td>{{ v.approval_status or "-" }}</td><td>{{ v.validation or "-" }}</td>
{% for m in p.chart_metrics %}<td>{{ v.metrics.get(m)|num }}</td>{% endfor %}
<td class="time">{{ v.registered_at|when }}</td></tr>
{% endfor %}
</tbody>
</table>
{% if charts[p.group] %}
<h3>Metrics across versions</h3>
<div class="charts">
{% for name, svg in charts[p.group] %}<figure class="chart" data-metric="{{ name }}">{{ svg }}</figure>{% endfor %}
</div>
{% endif %}
<h3>Timeline</h3>
<table class="timeline">
<thead><tr><th>version</th><th>time</th><th>what</th><th>who</th><th>why</th></tr></thead>
<tbody>
{% for v in p.versions %}
{% for e in v.entries %}
<tr data-version="{{ v.version }}"{% if v.earlier %} data-incarnation="earlier"{% endif %}><td>{{ v.label }}</td>
<td class="time">{{ e.time|when }}</td>
<td class="k-{{ e.kind }}">{{ e.kind|label }}</td><td>{{ e.actor or "-" }}</td>
<td>{{ e.reason or "" }}{% if e.kind == "validated" and e.details.get("metrics") %}
 <span class="muted">({{ e.details.get("metrics") }})</span>{% endif %}</td></tr>
{% else %}
<tr data-version="{{ v.version }}"{% if v.earlier %} data-incarnation="earlier"{% endif %}><td>{{ v.label }}</td>
<td colspan="4" class="muted">no audit entries</td></tr>
{% endfor %}
{% endfor %}
</tbody>
</table>
{% endif %}
</section>
{% endfor %}
</body>
</html>
"""
