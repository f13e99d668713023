"""Seed-compatible configuration: `.env.shared` (which groups) plus `policy.toml` (how each behaves).

`.env.shared` is read exactly as the seed wrote it::

    ENABLE_MODEL_REGISTRY=true
    TEAMS="rc algo"
    RC_PROJECTS="fraud-detection anti-money-laundering"
    ALGO_PROJECTS="recommendation-engine"

Lists are space- or comma-separated, quotes optional, comments and blank lines allowed. A team's
key is its name upper-cased with ``-`` turned into ``_``. Every problem raises `ConfigError`
naming the key and value, before any AWS call is made.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from dotenv import dotenv_values
from pydantic import ValidationError

from registry_workflow.errors import ConfigError
from registry_workflow.policy import NAME_PATTERN, ProjectPolicy, merge

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
        """The SageMaker endpoint this project's approved versions go live on."""
        return self.policy.deploy.endpoint_name or endpoint_name_for(self.group_name)


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

    @cached_property
    def _by_group(self) -> dict[str, Project]:
        return {p.group_name: p for p in self.projects}

    def project_for_group(self, group_name: str) -> Project | None:
        return self._by_group.get(group_name)

    def project_for_endpoint(self, endpoint_name: str) -> Project | None:
        return next((p for p in self.projects if p.endpoint_name == endpoint_name), None)

    def in_managed_namespace(self, group_name: str) -> bool:
        """True for names under a configured team's prefix (`{team}-…`)."""
        return any(group_name.startswith(f"{team}-") for team in self.teams)


def endpoint_name_for(group_name: str) -> str:
    """Default endpoint of a group: `<group>-endpoint`, kept within SageMaker's 63 characters."""
    suffix = "-endpoint"
    return group_name[: 63 - len(suffix)].rstrip("-") + suffix


def team_key(team: str) -> str:
    """The `.env.shared` key that lists a team's projects: `rc` → `RC_PROJECTS`."""
    return f"{team.upper().replace('-', '_')}_PROJECTS"


def load_config(config_dir: str | os.PathLike[str] | None = None) -> RegistryConfig:
    """Read `.env.shared` and the optional `policy.toml` from a directory.

    The directory is the argument, else `$REGISTRY_CONFIG_DIR`, else `./config`.
    """
    directory = Path(config_dir or os.environ.get(CONFIG_DIR_ENV) or "config")
    env_path = directory / ENV_FILE
    if not env_path.is_file():
        raise ConfigError(CONFIG_DIR_ENV, str(directory), f"no {ENV_FILE} in this directory")
    env_text = env_path.read_text(encoding="utf-8")
    policy_path = directory / POLICY_FILE
    policy_text = policy_path.read_text(encoding="utf-8") if policy_path.is_file() else ""
    return parse_config(env_text, policy_text, env_source=str(env_path), policy_source=str(policy_path))


def parse_config(
    env_text: str,
    policy_text: str = "",
    *,
    env_source: str = ENV_FILE,
    policy_source: str = POLICY_FILE,
) -> RegistryConfig:
    """Parse the two files' contents into a validated `RegistryConfig`."""
    values = _read_env(env_text)
    enabled = _parse_bool("ENABLE_MODEL_REGISTRY", values.get("ENABLE_MODEL_REGISTRY", "true"), env_source)
    teams = _parse_list(values.get("TEAMS", ""))
    if enabled and not teams:
        raise ConfigError("TEAMS", values.get("TEAMS", ""), "lists no team", env_source)

    policy_tables = _read_policy(policy_text, policy_source)
    projects: list[Project] = []
    seen: dict[str, str] = {}
    for team in teams:
        key = team_key(team)
        if team != team.lower():
            raise ConfigError("TEAMS", team, _LOWERCASE, env_source)
        if key not in values:
            raise ConfigError(key, None, f"team {team!r} is in TEAMS but {key} is not set", env_source)
        names = _parse_list(values[key] or "")
        if not names:
            raise ConfigError(key, values[key], f"team {team!r} has no projects", env_source)
        for name in names:
            group = f"{team}-{name}"
            if len(group) > 63 or not _NAME.match(group):
                raise ConfigError(
                    key,
                    name,
                    f"group name {group!r} breaks SageMaker's rule: at most 63 characters of "
                    "letters, digits and single hyphens, starting and ending with a letter or digit",
                    env_source,
                )
            if name != name.lower():
                raise ConfigError(key, name, _LOWERCASE, env_source)
            if group in seen:
                raise ConfigError(key, name, f"group {group!r} is already defined by {seen[group]}", env_source)
            seen[group] = key
            project = Project(team, name, _project_policy(group, policy_tables, policy_source))
            _check_deployable(project, key, env_source, policy_source)
            projects.append(project)

    # IAM and the rules scope a team by the prefix "<team>-": it must not cover another team
    for team in teams:
        overlap = next((other for other in teams if other != team and other.startswith(f"{team}-")), None)
        if overlap:
            raise ConfigError(
                "TEAMS",
                overlap,
                f"starts with {team + '-'!r}: team {team!r}'s policies would cover its groups",
                env_source,
            )
    unknown = sorted(set(policy_tables["projects"]) - set(seen))
    if unknown:
        raise ConfigError(
            f"projects.{unknown[0]}",
            unknown[0],
            "policy for a group that .env.shared does not define",
            policy_source,
        )
    fingerprint = hashlib.sha256(f"{env_text}\0{policy_text}".encode()).hexdigest()[:16]
    return RegistryConfig(enabled, tuple(projects) if enabled else (), env_source, fingerprint)


_LOWERCASE = (
    "must be lowercase: SageMaker lowercases endpoint, model and endpoint-config ARNs, and the IAM "
    "policies that scope them by team prefix compare case"
)
#: the longest team name whose projects deploy: model and config names are cut to 63 characters
#: from the end of their prefix, keeping "-v<N>-<digest8>" (up to v99999), and must still start
#: with "<team>-", the prefix IAM scopes them by
MAX_DEPLOYABLE_TEAM = 63 - len("-v99999-12345678") - 1


def _check_deployable(project: Project, key: str, env_source: str, policy_source: str) -> None:
    """Names derived for deployment must start with "<team>-": IAM allows nothing else."""
    deploy = project.policy.deploy
    if not deploy.enabled:
        return
    team, group = project.team, project.group_name
    if len(team) > MAX_DEPLOYABLE_TEAM:
        raise ConfigError(
            "TEAMS",
            team,
            f"team {team!r} is {len(team)} characters: teams whose projects deploy have at most "
            f"{MAX_DEPLOYABLE_TEAM} (model and endpoint names must start with '{team[:20]}…-'); "
            f"shorten it, or set deploy.enabled = false for its projects in {POLICY_FILE}",
            env_source,
        )
    name = deploy.endpoint_name
    if name and (not name.startswith(f"{team}-") or len(name) > 63 or name != name.lower()):
        raise ConfigError(
            f"projects.{group}.deploy.endpoint_name",
            name,
            f"must be lowercase, start with the team prefix {team + '-'!r} (IAM scopes endpoints by it) "
            "and have at most 63 characters",
            policy_source,
        )


def _read_env(text: str) -> dict[str, str | None]:
    return dict(dotenv_values(stream=io.StringIO(text)))


def _parse_bool(key: str, raw: str | None, source: str) -> bool:
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(key, raw, "must be true or false", source)


def _parse_list(raw: str | None) -> list[str]:
    return [item for item in _LIST_SPLIT.split((raw or "").strip()) if item]


def _read_policy(text: str, source: str) -> dict[str, dict]:
    try:
        data = tomllib.loads(text) if text.strip() else {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("policy.toml", source, f"is not valid TOML: {exc}", source) from exc
    unknown = sorted(set(data) - {"defaults", "projects"})
    if unknown:
        raise ConfigError(unknown[0], data[unknown[0]], "unknown top-level table (use defaults or projects)", source)
    for table in ("defaults", "projects"):
        if not isinstance(data.setdefault(table, {}), dict):
            raise ConfigError(table, data[table], "must be a table", source)
    return data


def _project_policy(group: str, tables: dict[str, dict], source: str) -> ProjectPolicy:
    override = tables["projects"].get(group, {})
    try:
        return ProjectPolicy.model_validate(merge(tables["defaults"], override))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        table = f"projects.{group}" if _has_path(override, error["loc"]) else "defaults"
        raise ConfigError(f"{table}.{where}", error.get("input"), error["msg"], source) from exc


def _has_path(table: dict, loc: tuple) -> bool:
    node: object = table
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
