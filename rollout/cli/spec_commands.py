"""``rollout validate`` and ``rollout plan``: check specs before they are pushed.

Meant for a spec repository's own CI: one line per problem as ``path:line: field: message``,
exit 0 when everything is valid and 1 otherwise, ``--output json`` for tools.
"""

from __future__ import annotations

import json
import sys

import click

from rollout.spec import catalog as spec_catalog
from rollout.spec import plan as spec_plan


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def validate(paths: tuple[str, ...], output: str) -> None:
    """Check rollout specs and policies in files or directories, together."""
    loaded = spec_catalog.load_paths(paths)
    if output == "json":
        report = {
            "valid": loaded.ok,
            "rollouts": sorted(loaded.rollouts),
            "policies": sorted(
                name for name, (_, origin) in loaded.policies.items() if origin is not None
            ),
            "problems": [problem.as_dict() for problem in loaded.problems],
        }
        click.echo(json.dumps(report, indent=2))
    else:
        for problem in loaded.problems:
            click.echo(str(problem))
        repo_policies = sum(1 for _, origin in loaded.policies.values() if origin is not None)
        summary = (
            f"{len(loaded.rollouts)} rollout(s) valid, {repo_policies} policy file(s) checked, "
            f"{len(loaded.problems)} problem(s) in {loaded.files} file(s)"
        )
        click.echo(summary, err=True)
    sys.exit(0 if loaded.ok else 1)


@click.command()
@click.argument("file", type=click.Path())
@click.option("--name", help="The rollout to plan when the file holds several.")
def plan(file: str, name: str | None) -> None:
    """Print the steps, the weights and the shortest time to full promotion."""
    loaded = spec_catalog.load_paths([file])
    for problem in loaded.problems:
        click.echo(str(problem), err=True)
    rollouts = [r for r in loaded.rollouts.values() if name in (None, r.rollout.name)]
    if not rollouts:
        click.echo(f"{file}: no valid rollout to plan", err=True)
        sys.exit(1)
    for index, entry in enumerate(rollouts):
        if index:
            click.echo("")
        rollout = entry.rollout
        click.echo(f"rollout {rollout.key} -> version {rollout.spec.version} ({entry.origin})")
        for line in spec_plan.plan(rollout).lines():
            click.echo(line)
    sys.exit(1 if loaded.problems else 0)
