"""``rollout validate`` and ``rollout plan``: check specs before they are pushed.

Meant for a spec repository's own CI: one line per problem as ``path:line: field: message``,
exit 0 when everything is valid and 1 otherwise, ``--output json`` for tools.

``plan`` takes one file; the policies it names are found as ``validate`` finds them when
given the whole repository: every Policy in the Git work tree around the file (outside Git,
in the files beside it), or in the ``--policies`` paths instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from rollout.analysis import buckets
from rollout.source import files as spec_files
from rollout.spec import plan as spec_plan
from rollout.spec.catalog import Catalog
from rollout.spec.policy import Policy
from rollout.spec.problems import Problem


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def validate(paths: tuple[str, ...], output: str) -> None:
    """Check rollout specs and policies in files or directories, together."""
    loaded = spec_files.load_paths(paths)
    notes = _latency_notes(loaded)
    if output == "json":
        report = {
            "valid": loaded.ok,
            "rollouts": sorted(loaded.rollouts),
            "policies": sorted(
                name for name, (_, origin) in loaded.policies.items() if origin is not None
            ),
            "problems": [problem.as_dict() for problem in loaded.problems],
            "notes": notes,
        }
        click.echo(json.dumps(report, indent=2))
    else:
        for problem in loaded.problems:
            click.echo(str(problem))
        for note in notes:
            click.echo(f"note: {note}", err=True)
        own = sorted(name for name, (_, origin) in loaded.policies.items() if origin is not None)
        if _names_unknown_policy(loaded.problems):
            click.echo(_where_validate_looked(paths, own), err=True)
        summary = (
            f"{len(loaded.rollouts)} rollout(s) valid, {len(own)} policy file(s) checked, "
            f"{len(loaded.problems)} problem(s) in {loaded.files} file(s)"
        )
        if loaded.foreign:
            summary += f"; {loaded.foreign} document(s) of other APIs skipped"
        click.echo(summary, err=True)
    sys.exit(0 if loaded.ok else 1)


def policy_search_paths(file: Path) -> tuple[list[Path], str]:
    """Where ``file``'s policies are: the Git work tree holding it (a directory with
    ``.git``); outside Git, the YAML files beside it (not below: that could be a whole home
    directory). Also says so in words."""
    start = file.resolve().parent
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return [directory], f"the Git repository {directory}"
    beside = sorted(p for p in start.iterdir() if p.suffix in spec_files.YAML_SUFFIXES)
    return beside, f"the YAML files in {start} (not in a Git repository)"


def _policies_in(paths: Sequence[Path], planned: Path) -> list[Policy]:
    """Every valid Policy in ``paths`` outside the planned file (which is read on its own)."""
    found = spec_files.load_paths(paths)
    planned_file = planned.resolve()
    return [
        policy
        for policy, origin in found.policies.values()
        if origin is not None and Path(origin.path).resolve() != planned_file
    ]


def _names_unknown_policy(problems: Sequence[Problem]) -> bool:
    return any("unknown policy" in problem.message for problem in problems)


def _shipped_names() -> str:
    return ", ".join(policy.name for policy in spec_files.shipped_policies())


def _where_looked(places: str, found: Sequence[Policy]) -> str:
    names = ", ".join(sorted(policy.name for policy in found)) or "none"
    return (
        f"policies were looked for in the file itself, the shipped ones ({_shipped_names()}) and "
        f"{places} (found: {names}); --policies PATH looks elsewhere"
    )


def _where_validate_looked(paths: Sequence[str], own: Sequence[str]) -> str:
    """``validate`` reads only the paths it is given: a policy kept in another directory
    of the same repository is unknown unless that directory is given too."""
    return (
        f"hint: policies are the shipped ones ({_shipped_names()}) and those in the paths given "
        f"({', '.join(paths)}; found: {', '.join(own) or 'none'}): give the directory that "
        "holds the others too, or the repository's root"
    )


def _latency_notes(loaded: Catalog) -> list[str]:
    """Where a rollout's latency SLOs land on the histogram's buckets (not problems)."""
    notes = []
    for key, entry in sorted(loaded.rollouts.items()):
        for policy in entry.policies:
            notes += [f"{key}: {policy.name}: {n}" for n in buckets.latency_notes(policy)]
    return notes


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", help="The rollout to plan when the file holds several.")
@click.option(
    "--policies",
    "policy_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Policy files or directories (default: the Git repository around FILE).",
)
def plan(file: Path, name: str | None, policy_paths: tuple[Path, ...]) -> None:
    """Print the steps, the weights and the shortest time to full promotion."""
    if policy_paths:
        searched, places = list(policy_paths), ", ".join(str(p) for p in policy_paths)
    else:
        searched, places = policy_search_paths(file)
    found = _policies_in(searched, file) if file.exists() else []
    texts, problems = spec_files.collect_files([file])
    loaded = spec_files.read_catalog(texts, known_policies=found)
    problems.extend(loaded.problems)
    for problem in problems:
        click.echo(str(problem), err=True)
    if _names_unknown_policy(problems):
        click.echo(_where_looked(places, found), err=True)
    rollouts = [r for r in loaded.rollouts.values() if name in (None, r.rollout.name)]
    if not rollouts:
        click.echo(f"{file}: no valid rollout to plan", err=True)
        sys.exit(1)
    for index, entry in enumerate(rollouts):
        if index:
            click.echo("")
        rollout = entry.rollout
        click.echo(f"rollout {rollout.key} -> version {rollout.spec.version} ({entry.origin})")
        click.echo(f"routes: {rollout.spec.traffic.describe(rollout.namespace)}")
        for line in spec_plan.plan(rollout).lines():
            click.echo(line)
    sys.exit(1 if problems else 0)
