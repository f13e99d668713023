"""Fuzzing the config parser: any .env.shared / policy.toml either parses into valid groups or
raises ConfigError — never another exception, and never a group name SageMaker would refuse."""

from __future__ import annotations

import re

import fuzz_stats
from hypothesis import given
from hypothesis import strategies as st
from registry_workflow.config import parse_config
from registry_workflow.errors import ConfigError

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
KEYS = ["ENABLE_MODEL_REGISTRY", "TEAMS", "RC_PROJECTS", "ALGO_PROJECTS", "DATA_SCI_PROJECTS", "X"]
word = st.text(alphabet="abcRC-_09 ,'\"#=\t", min_size=0, max_size=30)
line = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), word),
    st.builds(lambda k, v: f'export {k}="{v}"', st.sampled_from(KEYS), word),
    st.sampled_from(["", "# comment", "TEAMS=rc algo data-sci", "RC_PROJECTS=fraud-detection", "=", "\x00"]),
    st.text(max_size=40),
)
env_text = st.lists(line, max_size=8).map("\n".join)

value = st.one_of(st.booleans(), st.integers(-5, 100_000), st.floats(allow_nan=True), st.text(max_size=12))
policy_key = st.sampled_from(
    ["min", "max", "max_regression", "auto_approve", "strategy", "instance_count", "traffic_percent", "nope"]
)
policy_text = st.builds(
    lambda table, section, key, v: f"[{table}.{section}]\n{key} = {_toml(v)}\n",
    st.sampled_from(["defaults", 'projects."rc-a"', 'projects."rc-zz"', "other"]),
    st.sampled_from(["validation", "deploy", "notify", "bogus"]),
    policy_key,
    value,
)


def _toml(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v).replace("nan", "nan").replace("inf", "inf")


@given(env_text)
def test_random_env_files_parse_or_raise_config_error(text: str) -> None:
    try:
        config = parse_config(text)
    except ConfigError as exc:
        fuzz_stats.record("config .env.shared", "ConfigError")
        key = exc.key
        assert key
        return
    fuzz_stats.record("config .env.shared", "parsed")
    for group in config.group_names:
        assert len(group) <= 63
        assert NAME.match(group)
    assert len(set(config.group_names)) == len(config.group_names)


@given(policy_text)
def test_random_policy_files_parse_or_raise_config_error(text: str) -> None:
    try:
        parse_config("TEAMS=rc\nRC_PROJECTS=a\n", text)
    except ConfigError as exc:
        fuzz_stats.record("config policy.toml", "ConfigError")
        key = exc.key
        assert key
        return
    fuzz_stats.record("config policy.toml", "parsed")


team_name = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?", fullmatch=True)
project_name = st.from_regex(r"[a-z0-9]{1,20}(-[a-z0-9]{1,20}){0,2}", fullmatch=True)


@st.composite
def structured_env(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Seed-shaped files with random teams, separators, quoting and comments."""
    teams = draw(st.lists(team_name, min_size=1, max_size=4, unique=True))
    sep = draw(st.sampled_from([" ", ",", ", ", "  "]))
    quote = draw(st.sampled_from(["", '"', "'"]))
    lines = [draw(st.sampled_from(["ENABLE_MODEL_REGISTRY=true", "ENABLE_MODEL_REGISTRY=1", "# registry"]))]
    lines.append(f"TEAMS={quote}{sep.join(teams)}{quote}")
    expected = []
    for team in teams:
        projects = draw(st.lists(project_name, min_size=1, max_size=4, unique=True))
        lines.append(f"{team.upper().replace('-', '_')}_PROJECTS={quote}{sep.join(projects)}{quote}")
        expected += [f"{team}-{p}" for p in projects]
    return "\n".join(draw(st.permutations(lines))), expected


def _teams(text: str) -> list[str]:
    """The TEAMS of a generated file (the generator quotes and separates them in a few ways)."""
    line = next(line for line in text.splitlines() if line.startswith("TEAMS="))
    return line.removeprefix("TEAMS=").strip("'\"").replace(",", " ").split()


@given(structured_env())
def test_seed_shaped_files_give_exactly_their_groups(case: tuple[str, list[str]]) -> None:
    text, expected = case
    valid = (
        all(len(g) <= 63 for g in expected)
        and len(set(expected)) == len(expected)
        and not any(other.startswith(f"{team}-") for team in _teams(text) for other in _teams(text))
    )
    try:
        config = parse_config(text)
    except ConfigError:
        fuzz_stats.record("config seed-shaped", "ConfigError")
        assert not valid
        return
    fuzz_stats.record("config seed-shaped", "parsed")
    assert valid
    assert sorted(config.group_names) == sorted(expected)
