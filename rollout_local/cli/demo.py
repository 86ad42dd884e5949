"""``rollout demo``: a real traffic shift on the embedded stack, in one command.

Starts the local API server, the real Envoy and Prometheus, a Git repository and the
controller, sends steady traffic, and plays a scenario (``rollout_local.demo.story``):
by default v2 is promoted and v3, failing 5% of its requests, is rolled back. Progress is
printed as plain lines (readable in a CI log as in a terminal); at the end a summary, an
HTML report and, with ``--json``, a machine-readable summary. Ctrl-C or SIGTERM stops
every part and leaves no process behind (exit code 130).

The dashboard's one-time URL is printed as the stack starts. ``--keep`` leaves the stack
(the dashboard too) up after the story, with the ``KUBECONFIG`` export and the Git
URL printed, until Ctrl-C (which then ends it normally); ``--scenario manual-gate`` waits
for the user's own ``rollout promote`` at the gate, unless ``--auto``.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from rollout.errors import RolloutError
from rollout_local.demo import report
from rollout_local.demo.stack import sigterm_as_interrupt
from rollout_local.demo.story import SCENARIOS, DemoOptions, DemoResult, run_demo


def _echo(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()


def _print_summary(result: DemoResult) -> None:
    _echo("")
    _echo(f"summary: {result.scenario.title}")
    for record in result.versions:
        took = record.seconds_to_decision
        timing = f" in {took:.1f}s from its first request" if took is not None else ""
        _echo(f"  {record.version} ({record.description}): {record.outcome}{timing}")
        for step in record.steps:
            share = step.measured_share
            measured = f"{share:5.1f}%" if share is not None else "   - "
            _echo(
                f"    weight {step.weight:>3}%  Envoy measured {measured} "
                f"({step.canary_requests} of {step.total_requests} requests)"
            )
        if record.reason:
            _echo(f"    why: {record.reason}")
    final = result.final
    routes = result.summary().get("http_route")
    now = (
        f"HTTPRoute: {routes['final']}" if routes else f"VirtualService: {final['virtual_service']}"
    )
    _echo(f"  {now} now; phase {final.get('phase')}")
    _echo(f"  total {result.seconds_total:.1f}s; {len(result.alerts)} alert(s) received")


@click.command()
@click.option(
    "--scenario",
    type=click.Choice(list(SCENARIOS)),
    default="story",
    show_default=True,
    help="story: v2 promoted then v3 rolled back; or one behaviour on its own.",
)
@click.option(
    "--rate", type=click.FloatRange(20, 1000), default=200.0, show_default=True, help="req/s."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a machine-readable summary here.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("demo-report.html"),
    show_default=True,
    help="Where to write the HTML report.",
)
@click.option(
    "--keep",
    is_flag=True,
    help="After the story, keep everything running (and print how to reach it) until Ctrl-C.",
)
@click.option(
    "--auto",
    "auto_promote",
    is_flag=True,
    help="manual-gate: promote by itself after a few seconds instead of waiting for you.",
)
@click.option("--verbose", "-v", is_flag=True, help="Also print the controller's own logs.")
def demo(
    scenario: str,
    rate: float,
    json_path: Path | None,
    report_path: Path,
    keep: bool,
    auto_promote: bool,
    verbose: bool,
) -> None:
    """Watch a real canary rollout: Envoy, Prometheus, Git and the controller, on this machine."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        with sigterm_as_interrupt():
            options = DemoOptions(
                scenario=scenario, rate=rate, keep=keep, auto_promote=auto_promote
            )
            result = run_demo(options, echo=_echo)
    except KeyboardInterrupt:
        _echo("interrupted: every part of the demo is stopped")
        sys.exit(130)
    except RolloutError as error:
        click.echo(f"rollout demo: {error}", err=True)
        sys.exit(1)
    _print_summary(result)
    report.write_report(result, report_path)
    _echo(f"  report: {report_path.resolve()}")
    if json_path is not None:
        json_path.write_text(json.dumps(result.summary(), indent=2) + "\n")
        _echo(f"  JSON summary: {json_path.resolve()}")
    if not result.as_expected:
        sys.exit(1)
