"""Seed-compatible configuration: `.env.shared` (which groups) plus `policy.toml` (how each behaves).

`.env.shared` is read exactly as the seed wrote it::

    ENABLE_MODEL_REGISTRY=true
    TEAMS="rc algo"
    RC_PROJECTS="fraud-detection anti-money-laundering"
    ALGO_PROJECTS="recommendation-engine"

Lists are space- or comma-separated, quotes optional, comments and blank lines allowed. A team's
key is its name upper-cased with ``-`` turned into ``_``. `policy.toml` is required: without it no
version would meet any threshold. Every problem is found before any AWS call and all of them are
raised at once, as one `ConfigError` whose lines read `file:line: key: what is wrong`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from registry_workflow.errors import ConfigError
from registry_workflow.policy import NAME_PATTERN, DeployPolicy, PolicyModel, ProjectPolicy, ValidationError, merge

ENV_FILE = ".env.shared"
POLICY_FILE = "policy.toml"
CONFIG_DIR_ENV = "REGISTRY_CONFIG_DIR"

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NAME = re.compile(NAME_PATTERN)
_LIST_SPLIT = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class Project:
    """One project of one team: owns the Model Package Group `{team}-{project}`."""

    team: str
    name: str
    policy: ProjectPolicy = field(default_factory=ProjectPolicy, compare=False)

    @property
    def group_name(self) -> str:
        return f"{self.team}-{self.name}"

    @property
    def endpoint_name(self) -> str:
        """The endpoint an approved version goes live on first (the first stage's)."""
        return self.stages[0].endpoint

    @cached_property
    def stages(self) -> tuple[Stage, ...]:
        """Where versions go live, in order: the `stages` of policy.toml, else one stage (`deploy`)."""
        staged = self.policy.stages
        if not staged:
            endpoint = self.policy.deploy.endpoint_name or endpoint_name_for(self.group_name)
            return (Stage(DEFAULT_STAGE, endpoint, self.policy.deploy, 0, 1),)
        return tuple(
            Stage(
                s.name,
                s.endpoint_name or endpoint_name_for(self.group_name, s.name),
                s,
                i,
                len(staged),
                s.soak_minutes,
                guarded=s.guarded if s.guarded is not None else i == len(staged) - 1,
            )
            for i, s in enumerate(staged)
        )

    @property
    def is_staged(self) -> bool:
        return len(self.stages) > 1

    def guards(self, stage_name: str) -> bool:
        """Only a promoter may ask for this project's stage of that name."""
        stage = self.stage_named(stage_name)
        return stage is not None and stage.guarded

    def stage_named(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def stage_for_endpoint(self, endpoint: str) -> Stage | None:
        return next((s for s in self.stages if s.endpoint == endpoint), None)


#: the name of a project's only stage when policy.toml lists none
DEFAULT_STAGE = "default"
#: template.yaml's GuardedStages default
DEFAULT_GUARDED_STAGES = "production"
#: the longest GuardedStages (comma-separated names) that keeps the parameter under CloudFormation's
#: 4,096 characters and every team's managed policies, which list the names, under IAM's 6,144
#: (tests/unit/test_template_limits.py renders the template at this size)
MAX_GUARDED_STAGES_CHARS = 3_000
#: GuardedStages when nothing is guarded and a project has a stage named `production`: no stage
#: name can start with "-" (SageMaker's pattern), so IAM guards nothing
NO_GUARDED_STAGE = "-"


@dataclass(frozen=True)
class Stage:
    """One place a project's versions go live: an endpoint with its deploy policy and its place in order."""

    name: str
    endpoint: str
    deploy: DeployPolicy = field(compare=False)
    index: int = 0
    count: int = 1
    soak_minutes: int = 0
    #: only a promoter may ask for this stage (IAM, the stack's GuardedStages): `guarded` in
    #: policy.toml, else true for the last of two or more stages
    guarded: bool = False

    @property
    def is_first(self) -> bool:
        return self.index == 0

    @property
    def label(self) -> str:
        """The stage as people read it: empty for a project's only stage."""
        return "" if self.count == 1 else self.name


@dataclass(frozen=True)
class RegistryConfig:
    """The whole desired state: is the registry enabled, and which projects exist."""

    enabled: bool
    projects: tuple[Project, ...]
    source: str = ""
    fingerprint: str = ""

    @property
    def group_names(self) -> list[str]:
        return [p.group_name for p in self.projects]

    @property
    def teams(self) -> list[str]:
        return list(dict.fromkeys(p.team for p in self.projects))

    @property
    def guarded_stages(self) -> list[str]:
        """The stage names only a promoter may ask for, over every project (the template's GuardedStages)."""
        return sorted({stage.name for project in self.projects for stage in project.stages if stage.guarded})

    @property
    def guarded_stages_parameter(self) -> str:
        """The template's GuardedStages for this config: its guarded stages.

        A CommaDelimitedList is never empty: with none guarded, the template's default
        (`production`) when no project has a stage of that name, else `NO_GUARDED_STAGE`, a name no
        stage can have (so an unguarded `production` stays open to approvers).
        """
        if self.guarded_stages:
            return ",".join(self.guarded_stages)
        names = {stage.name.lower() for project in self.projects for stage in project.stages}
        return NO_GUARDED_STAGE if DEFAULT_GUARDED_STAGES in names else DEFAULT_GUARDED_STAGES

    @cached_property
    def _by_group(self) -> dict[str, Project]:
        return {p.group_name: p for p in self.projects}

    def project_for_group(self, group_name: str) -> Project | None:
        return self._by_group.get(group_name)

    def project_for_endpoint(self, endpoint_name: str) -> Project | None:
        return next((p for p in self.projects if p.stage_for_endpoint(endpoint_name) is not None), None)

    def in_managed_namespace(self, group_name: str) -> bool:
        """True for names under a configured team's prefix (`{team}-…`)."""
        return any(group_name.startswith(f"{team}-") for team in self.teams)


def endpoint_name_for(group_name: str, stage: str = "endpoint") -> str:
    """Default endpoint of a group (`<group>-endpoint`) or of its stage (`<group>-<stage>`), ≤ 63 characters."""
    suffix = f"-{stage}"
    return group_name[: 63 - len(suffix)].rstrip("-") + suffix


def team_key(team: str) -> str:
    """The `.env.shared` key that lists a team's projects: `rc` → `RC_PROJECTS`."""
    return f"{team.upper().replace('-', '_')}_PROJECTS"


def load_config(config_dir: str | os.PathLike[str] | None = None) -> RegistryConfig:
    """Read `.env.shared` and `policy.toml` from a directory; both are required.

    The directory is the argument, else `$REGISTRY_CONFIG_DIR`, else `./config`.
    """
    directory = Path(config_dir or os.environ.get(CONFIG_DIR_ENV) or "config")
    env_path, policy_path = directory / ENV_FILE, directory / POLICY_FILE
    missing = [
        ConfigError(name, None, problem, str(directory))
        for name, path, problem in (
            (ENV_FILE, env_path, f"not found: the teams and projects live there (--config-dir or {CONFIG_DIR_ENV})"),
            (POLICY_FILE, policy_path, _NO_POLICY),
        )
        if not path.is_file()
    ]
    if missing:
        raise ConfigError.of(missing)
    return parse_config(
        env_path.read_text(encoding="utf-8"),
        policy_path.read_text(encoding="utf-8"),
        env_source=str(env_path),
        policy_source=str(policy_path),
    )


_NO_POLICY = (
    "not found: without a policy no version is checked against any threshold. Write one "
    '(README.md, "Configuration"); to review by hand without thresholds, say so: [defaults.validation] '
    "min = {}"
)


def parse_config(
    env_text: str,
    policy_text: str | None = None,
    *,
    env_source: str = ENV_FILE,
    policy_source: str = POLICY_FILE,
) -> RegistryConfig:
    """Parse the two files' contents into a validated `RegistryConfig`, or raise every problem at once.

    `policy_text=None` means no policy file was given (tools that only read `.env.shared`); an
    empty policy text is refused like a missing file.
    """
    problems = _Problems()
    settings = _read_env(env_text, env_source, problems)
    unreadable = problems.keys  # keys whose line could not be read (an unterminated quote, …)
    enabled = _parse_bool("ENABLE_MODEL_REGISTRY", settings, env_source, problems)
    teams_setting = settings.get("TEAMS")
    teams = _parse_list(teams_setting.value) if teams_setting else []
    if enabled and not teams and "TEAMS" not in unreadable:
        if teams_setting:
            problems.add(
                "TEAMS",
                teams_setting.value,
                'lists no team: name at least one, e.g. TEAMS="rc algo"',
                env_source,
                teams_setting.line,
            )
        else:
            problems.add("TEAMS", None, 'is not set: name the teams, e.g. TEAMS="rc algo"', env_source)
    if "TEAMS" not in unreadable:  # with TEAMS unreadable, every team's key would look unknown
        _check_unknown_keys(settings, teams, env_source, problems)

    policy_tables, policy_lines = _read_policy(policy_text, policy_source, problems)
    _project_policy(None, policy_tables, policy_lines, policy_source, problems)  # defaults, even with no project
    projects: list[Project] = []
    seen: dict[str, str] = {}
    for team in teams:
        key, line = team_key(team), teams_setting.line if teams_setting else None
        if team != team.lower():
            problems.add("TEAMS", team, f'team "{team}" {_LOWERCASE}', env_source, line)
            continue
        if "--" in team:
            problems.add(
                "TEAMS", team, f'team "{team}" has a double hyphen: names use single hyphens', env_source, line
            )
            continue
        setting = settings.get(key)
        if setting is None:
            if key not in problems.keys:
                problems.add(
                    key, None, f'is not set: team "{team}" is in TEAMS; add {key}="<project> …"', env_source, line
                )
            continue
        names = _parse_list(setting.value)
        if not names:
            problems.add(
                key, setting.value, f'lists no project: team "{team}" needs at least one', env_source, setting.line
            )
        for name in names:
            group = f"{team}-{name}"
            wrong = _group_name_problem(group, name)
            if wrong:
                problems.add(key, name, f'project "{name}": {wrong}', env_source, setting.line)
                continue
            if group in seen:
                problems.add(
                    key,
                    name,
                    f'project "{name}": group "{group}" is already defined by {seen[group]}',
                    env_source,
                    setting.line,
                )
                continue
            seen[group] = key
            policy = _project_policy(group, policy_tables, policy_lines, policy_source, problems)
            if policy is None:
                continue
            project = Project(team, name, policy)
            _check_deployable(project, line, policy_lines, env_source, policy_source, problems)
            _check_slack_approvals(project, teams, policy_tables, policy_lines, policy_source, problems)
            projects.append(project)

    # IAM and the rules scope a team by the prefix "<team>-": it must not cover another team
    for team in teams:
        overlap = next((other for other in teams if other != team and other.startswith(f"{team}-")), None)
        if overlap:
            problems.add(
                "TEAMS",
                overlap,
                f'team "{overlap}" starts with "{team}-": team "{team}"\'s policies would cover its groups; '
                "rename one of them",
                env_source,
                teams_setting.line if teams_setting else None,
            )
    _check_guarded_stages(projects, policy_lines, policy_source, problems)
    for group in policy_tables["projects"]:
        if group not in seen and enabled:
            hint = did_you_mean(group, list(seen))
            problems.add(
                f"projects.{group}",
                group,
                f"policy for a group .env.shared does not define{hint} (groups: {', '.join(seen) or 'none'})",
                policy_source,
                _line_of(policy_lines, ("projects", group)),
            )
    if problems:
        order = {env_source: 0, policy_source: 1}
        raise ConfigError.of(sorted(problems.unique(), key=lambda p: (order.get(p.source, -1), p.line or 0)))
    fingerprint = hashlib.sha256(f"{env_text}\0{policy_text or ''}".encode()).hexdigest()[:16]
    return RegistryConfig(enabled, tuple(projects) if enabled else (), env_source, fingerprint)


def _check_guarded_stages(
    projects: list[Project], lines: dict[tuple[str, ...], int], source: str, problems: _Problems
) -> None:
    """One stack guards a stage name for every project (GuardedStages): a name guarded in one
    project and open in another cannot be both. Compared ignoring case, as the approver policy's
    `StringNotEqualsIgnoreCase` compares it."""
    first: dict[str, tuple[Project, Stage]] = {}
    guarded = ",".join(sorted({s.name for p in projects for s in p.stages if s.guarded}))
    if len(guarded) > MAX_GUARDED_STAGES_CHARS:
        problems.add(
            "stages",
            f"{guarded[:60]}…",
            f"the guarded stage names add up to {len(guarded)} characters (GuardedStages): at most "
            f"{MAX_GUARDED_STAGES_CHARS} fit CloudFormation's parameter and the stack's IAM policies, which "
            "list them; give the projects' guarded stages shared names (one `production`, say)",
            source,
            None,
        )
    for project in projects:
        for stage in project.stages if project.is_staged else ():
            other, seen = first.setdefault(stage.name.lower(), (project, stage))
            if other is project or seen.guarded == stage.guarded:
                continue
            guarded_in, open_in = (other, project) if seen.guarded else (project, other)
            problems.add(
                f"projects.{project.group_name}.stages.guarded",
                stage.name,
                f'stage "{stage.name}" is guarded in {guarded_in.group_name} and not in {open_in.group_name}: '
                "the stack guards a stage name for every project (GuardedStages, compared ignoring case "
                "for approvers); say the same guarded in both, or rename one",
                source,
                _line_of(lines, ("projects", project.group_name, "stages")),
            )


_LOWERCASE = (
    "must be lowercase: SageMaker lowercases endpoint, model and endpoint-config ARNs, and the IAM "
    "policies that scope them by team prefix compare case"
)
#: the longest team name whose projects deploy: model and config names are cut to 63 characters
#: from the end of their prefix, keeping "-v<N>-<digest8>" (up to v99999), and must still start
#: with "<team>-", the prefix IAM scopes them by
MAX_DEPLOYABLE_TEAM = 63 - len("-v99999-12345678") - 1
#: keys of .env.shared this package reads; other keys (the seed's other modules) are left alone
_KNOWN_KEYS = ("ENABLE_MODEL_REGISTRY", "TEAMS")


class _Problems(list[ConfigError]):
    """Every problem found so far, in file order; parsing goes on after each one."""

    @property
    def keys(self) -> set[str]:
        return {problem.key for problem in self}

    def add(self, key: str, value: object, problem: str, source: str, line: int | None = None) -> None:
        self.append(ConfigError(key, value, problem, source, line))

    def unique(self) -> list[ConfigError]:
        """Without repeats (a bad default is found once per project)."""
        return list({problem.describe(): problem for problem in self}.values())


@dataclass(frozen=True)
class _Setting:
    value: str
    line: int


_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")


def _read_env(text: str, source: str, problems: _Problems) -> dict[str, _Setting]:
    """The seed's dotenv subset, with line numbers: KEY=VALUE, `export`, quotes, `#` comments."""
    settings: dict[str, _Setting] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if not match:
            shown = stripped if len(stripped) <= 40 else stripped[:37] + "…"
            problems.add(f'"{shown}"', stripped, "not a KEY=VALUE line (comments start with #)", source, number)
            continue
        key, raw = match.groups()
        value, wrong = _env_value(raw)
        if wrong:
            problems.add(key, raw, wrong, source, number)
            continue
        if key in settings:
            problems.add(key, value, f"is set twice (also on line {settings[key].line}): keep one", source, number)
        settings[key] = _Setting(value, number)
    return settings


def _env_value(raw: str) -> tuple[str, str]:
    """(value, problem): a quoted value ends at its closing quote; an unquoted one at ` #`."""
    if raw[:1] in {'"', "'"}:
        quote, chars, index = raw[0], [], 1
        while index < len(raw):
            char = raw[index]
            if char == "\\" and quote == '"' and index + 1 < len(raw):
                chars.append(raw[index + 1])
                index += 2
                continue
            if char == quote:
                rest = raw[index + 1 :].strip()
                if rest and not rest.startswith("#"):
                    return "", f"text after the closing {quote}: put the whole value inside the quotes"
                return "".join(chars), ""
            chars.append(char)
            index += 1
        return "", f"unterminated quote: the value opens with {quote} and the line has no closing {quote}"
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip(), ""


def _check_unknown_keys(settings: dict[str, _Setting], teams: list[str], source: str, problems: _Problems) -> None:
    """A `*_PROJECTS` key of no team, or a near miss of a known key, is a typo: name the key meant."""
    team_keys = {team_key(team): team for team in teams}
    for key, setting in settings.items():
        if key in team_keys or key in _KNOWN_KEYS:
            continue
        if key.endswith("_PROJECTS"):
            # the key meant is one TEAMS needs and that is not set: compare the team parts
            unset = {k.removesuffix("_PROJECTS"): k for k in team_keys if k not in settings}
            match = closest(key.removesuffix("_PROJECTS"), list(unset))
            hint = f"; did you mean {unset[match]}?" if match else ""
            listed = ", ".join(teams) or "none"
            problems.add(key, setting.value, f"no team of TEAMS ({listed}) has this key{hint}", source, setting.line)
        elif hint := did_you_mean(key, list(_KNOWN_KEYS), cutoff=0.75):
            problems.add(key, setting.value, f"unknown key{hint}", source, setting.line)


def did_you_mean(word: str, candidates: list[str], cutoff: float = 0.6) -> str:
    """ "; did you mean X?" for the closest of `candidates`, or ""."""
    match = closest(word, candidates, cutoff)
    return f"; did you mean {match}?" if match else ""


def closest(word: str, candidates: list[str], cutoff: float = 0.6) -> str | None:
    """The candidate nearest to `word` (difflib), if any is near enough."""
    import difflib  # only on the error path

    match = difflib.get_close_matches(word, candidates, n=1, cutoff=cutoff)
    return match[0] if match else None


def _group_name_problem(group: str, name: str) -> str:
    if name != name.lower():
        return _LOWERCASE
    if "--" in group:
        return f'group name "{group}" has a double hyphen: names use single hyphens'
    if len(group) > 63:
        return f'group name "{group}" is {len(group)} characters: SageMaker allows at most 63'
    if not _NAME.match(group):
        return (
            f'group name "{group}" breaks SageMaker\'s rule: letters, digits and single hyphens, '
            "starting and ending with a letter or digit"
        )
    return ""


def _check_deployable(
    project: Project,
    teams_line: int | None,
    lines: dict[tuple[str, ...], int],
    env_source: str,
    policy_source: str,
    problems: _Problems,
) -> None:
    """Names derived for deployment must start with "<team>-": IAM allows nothing else."""
    deploy = project.policy.deploy
    if not deploy.enabled:
        return
    team, group = project.team, project.group_name
    if len(team) > MAX_DEPLOYABLE_TEAM:
        problems.add(
            "TEAMS",
            team,
            f'team "{team}" is {len(team)} characters: teams whose projects deploy have at most '
            f"{MAX_DEPLOYABLE_TEAM} (model and endpoint names must start with '{team[:20]}…-'); "
            f"shorten it, or set deploy.enabled = false for its projects in {POLICY_FILE}",
            env_source,
            teams_line,
        )
    named = [(("projects", group, "deploy", "endpoint_name"), deploy.endpoint_name)]
    named += [(("projects", group, "stages", "endpoint_name"), s.endpoint_name) for s in project.policy.stages]
    for path, name in named:
        if name and (not name.startswith(f"{team}-") or len(name) > 63 or name != name.lower()):
            problems.add(
                ".".join(path),
                name,
                f'is "{name}": must be lowercase, start with the team prefix "{team}-" (IAM scopes endpoints by '
                "it) and have at most 63 characters",
                policy_source,
                _line_of(lines, path),
            )


def _check_slack_approvals(
    project: Project,
    teams: list[str],
    tables: dict[str, dict],
    lines: dict[tuple[str, ...], int],
    policy_source: str,
    problems: _Problems,
) -> None:
    """`approval.slack_approvers` names configured teams, each Slack user once per team (a person is one
    entry: the gate reads all of their IAM identities from it); `approval.slack = true` needs someone to click.
    One person listed under two teams approves for both."""
    approval, group = project.policy.approval, project.group_name
    written = tables["projects"].get(group, {})

    def where(*keys: str) -> tuple[str, ...]:
        path = ("approval", *keys)
        return ("projects", group, *path) if _has_path(written, path) else ("defaults", *path)

    for team in approval.slack_approvers:
        if team not in teams:
            path = where("slack_approvers", team)
            hint = did_you_mean(team, teams)
            problems.add(
                ".".join(path),
                team,
                f'team "{team}" is not in TEAMS{hint} (teams: {", ".join(teams) or "none"})',
                policy_source,
                _line_of(lines, path),
            )
    for team, approvers in approval.slack_approvers.items():
        users = [approver.user for approver in approvers]
        for user in dict.fromkeys(u for u in users if users.count(u) > 1):
            path = where("slack_approvers", team)
            problems.add(
                ".".join(path),
                user,
                f'lists Slack user "{user}" {users.count(user)} times for team "{team}": a person is one entry; '
                f'put all of their IAM identities in one {{ user = "{user}", iam = [...] }}',
                policy_source,
                _line_of(lines, path),
            )
    if approval.slack and not approval.slack_approvers.get(project.team):
        path = where("slack")
        problems.add(
            f"projects.{group}.approval.slack" if path[0] == "projects" else ".".join(path),
            True,
            f'is true for {group}, but approval.slack_approvers names no Slack user of team "{project.team}": '
            f'add {project.team} = ["U…"] to [defaults.approval.slack_approvers]',
            policy_source,
            _line_of(lines, path),
        )


def _parse_bool(key: str, settings: dict[str, _Setting], source: str, problems: _Problems) -> bool:
    setting = settings.get(key)
    value = setting.value.strip().lower() if setting else "true"
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    assert setting is not None
    problems.add(
        key,
        setting.value,
        f'is "{setting.value}": must be true or false (also 1/0, yes/no, on/off)',
        source,
        setting.line,
    )
    return True  # go on as if enabled: the other keys' problems are reported too


def _parse_list(raw: str | None) -> list[str]:
    return [item for item in _LIST_SPLIT.split((raw or "").strip()) if item]


# --- policy.toml ----------------------------------------------------------------------------------


def _read_policy(
    text: str | None, source: str, problems: _Problems
) -> tuple[dict[str, dict], dict[tuple[str, ...], int]]:
    """The policy's tables, and the line of each key path (tomllib gives no positions)."""
    empty: dict[str, dict] = {"defaults": {}, "projects": {}}
    if text is None:
        return empty, {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column (\d+)\)$", str(exc))
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)$", "", str(exc)).rstrip(".")
        line = int(found.group(1)) if found else len(text.splitlines()) or None
        column = f" (column {found.group(2)})" if found else ""
        problems.add("TOML syntax", None, f"{reason}{column}", source, line)
        return empty, {}
    lines = _key_lines(text)
    if not any(_ASSIGNMENT.match(line) for line in text.splitlines()):
        directory, name = os.path.split(source)
        problems.add(name or POLICY_FILE, None, "sets nothing: " + _NO_POLICY.split(": ", 1)[1], directory)
    for key in sorted(set(data) - {"defaults", "projects"}):
        hint = did_you_mean(key, ["defaults", "projects"])
        problems.add(
            key, None, f"unknown top-level table{hint} (allowed: defaults, projects)", source, _line_of(lines, (key,))
        )
    tables: dict[str, dict] = {}
    for table in ("defaults", "projects"):
        value = data.get(table, {})
        if not isinstance(value, dict):
            problems.add(table, value, f"is {_shown(value)}: must be a table", source, _line_of(lines, (table,)))
            value = {}
        tables[table] = value
    for group, override in list(tables["projects"].items()):
        if not isinstance(override, dict):
            problems.add(
                f"projects.{group}",
                override,
                f'is {_shown(override)}: must be a table, [projects."{group}".…]',
                source,
                _line_of(lines, ("projects", group)),
            )
            tables["projects"][group] = {}
    return tables, lines


def _project_policy(
    group: str | None, tables: dict[str, dict], lines: dict[tuple[str, ...], int], source: str, problems: _Problems
) -> ProjectPolicy | None:
    """A group's policy (defaults merged with its table); `group=None` checks the defaults' values alone."""
    override = tables["projects"].get(group, {}) if group else {}
    try:
        return ProjectPolicy.model_validate(merge(tables["defaults"], override), strict=True)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            ctx = error.get("ctx") or {}
            if "field" in ctx:  # a rule between fields, reported at the field it names
                if group is None:  # projects may override one of the fields: judged per project
                    continue
                loc = (*loc, ctx["field"])
            table: tuple[str, ...] = ("projects", group or "") if _has_path(override, loc) else ("defaults",)
            if table == ("defaults",) and not _has_path(tables["defaults"], loc) and override:
                table = ("projects", group or "")  # a default value broken by this project's other keys
            names = tuple(str(part) for part in loc if not isinstance(part, int))
            item = next((part for part in loc if isinstance(part, int)), None)
            problem = _explain(error, loc)
            if item is not None:
                problem = f"item {item + 1} {problem}"
            path = (*table, *names)
            problems.add(".".join(path), error.get("input"), problem, source, _line_of(lines, path))
        return None


def _explain(error: Any, loc: tuple) -> str:
    """A pydantic error in the words of policy.toml: what is wrong, and what is allowed."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    shown = _shown(value)
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        hint = did_you_mean(str(loc[-1]), allowed)
        return f"unknown key{hint} (allowed: {', '.join(allowed)})"
    if kind == "literal_error":
        return f"is {shown}: must be one of {str(ctx.get('expected', '')).replace(chr(39), chr(34))}"
    if kind in {"bool_type", "bool_parsing"}:
        return f"is {shown}: must be true or false"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return f"is {shown}: must be a whole number (without quotes)"
    if kind in {"float_type", "float_parsing"}:
        return f"is {shown}: must be a number (without quotes)"
    if kind == "finite_number":
        return f"is {shown}: must be a finite number (NaN and infinity fail every comparison)"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "less_than_equal": ("at most", "le"),
        "greater_than": ("more than", "gt"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"is {shown}: must be {words} {ctx.get(key)}"
    if kind == "string_type":
        return f"is {shown}: must be a string (in quotes)"
    if kind == "string_pattern_mismatch":
        if "slack_approvers" in loc and "user" in loc:
            return f'is {shown}: must be a Slack user id (U… or W…, capitals and digits, e.g. "U012AB3CD")'
        if "approvers" in loc or "iam" in loc:
            return f"is {shown}: must be an IAM role or user ARN (arn:aws:iam::<account>:role/<name>; * and ? match)"
        return f"is {shown}: must be letters, digits and hyphens, starting and ending with a letter or digit"
    if kind == "string_too_long":
        return f"is {len(str(value))} characters: at most {ctx.get('max_length')}"
    if kind == "too_long":
        return f"has {ctx.get('actual_length')} items: at most {ctx.get('max_length')}"
    if kind in {"dict_type", "model_type"}:
        return f"is {shown}: must be a table"
    if kind == "list_type":
        return f'is {shown}: must be a list, e.g. ["a", "b"]'
    return str(error["msg"]).removeprefix("Value error, ")


def _fields_at(loc: tuple) -> list[str]:
    """The keys allowed in the policy table at `loc` (ProjectPolicy's nested policy classes)."""
    model: type[PolicyModel] = ProjectPolicy
    in_container = False  # inside a dict or list of policy tables: keys and indices are skipped
    for part in loc:
        if str(part) not in model.model_fields:
            if in_container:
                continue
            return []
        found = model.nested.get(str(part))
        if found is None:
            return []
        model, in_container = found
    return list(model.model_fields)


def _shown(value: object) -> str:
    """A value as it reads in TOML, never as a Python repr."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return "a value"


def _has_path(table: dict, loc: tuple) -> bool:
    node: object = table
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGNMENT = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)
_KEY_PART = re.compile(r"[A-Za-z0-9_-]+|\"([^\"]*)\"|'([^']*)'")
_INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Key path → line of the TOML text, from table headers, `key =` lines and inline tables' keys."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            for depth in range(1, len(table) + 1):
                lines.setdefault(table[:depth], number)
            continue
        assignment = _ASSIGNMENT.match(line)
        if not assignment:
            continue
        path = (*table, *_split_key(assignment.group(1)))
        lines.setdefault(path, number)
        for inline in _INLINE_KEY.finditer(line[assignment.end() :]):
            lines.setdefault((*path, *_split_key(inline.group(1))), number)
    return lines


def _split_key(key: str) -> tuple[str, ...]:
    return tuple(
        m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(0)
        for m in _KEY_PART.finditer(key)
    )


def _line_of(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    """The line of `path`, else of its nearest written parent."""
    for depth in range(len(path), 0, -1):
        if path[:depth] in lines:
            return lines[path[:depth]]
    return None
