"""The demo's HTML report: a self-contained page with an SVG chart, the steps and verdicts.

Inputs: a ``DemoResult`` as a run leaves it (a timeline of Envoy readings, one promoted and
one rolled-back version with steps and verdicts, alerts). Outputs: HTML with the chart's
lines and decision markers, the tables (with each managed version's replicas over time
when there are any), escaped text, and nothing fetched from anywhere.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from rollout_local.demo.gateway_world import HTTPRouteState
from rollout_local.demo.monitor import StepRecord, TimelinePoint, VerdictNote, VersionRecord
from rollout_local.demo.report import chart_svg, render_report, write_report
from rollout_local.demo.story import SCENARIOS, DemoOptions, DemoResult

T0 = 1_000.0


def timeline() -> list[TimelinePoint]:
    points = []
    for tick in range(40):
        at = T0 + 10 + tick * 0.5
        weight = 10 if tick < 20 else 30
        canary_requests = 10 if weight == 10 else 30
        points.append(
            TimelinePoint(
                at=at,
                weights={"v1": 100 - weight, "v3": weight},
                requests={"v1": 100 - canary_requests, "v3": canary_requests},
                errors={"v3": 1 if tick % 4 == 0 else 0},
                canary="v3",
            )
        )
    return points


def result() -> DemoResult:
    v3 = VersionRecord(
        version="v3",
        description="5% errors",
        pushed_at=T0 + 9,
        commit="c8ae2c081f99" * 3,
        first_request_at=T0 + 10,
        decided_at=T0 + 29,
        outcome="rolled-back",
        reason="istio-error-ratio: canary worse <b>3.4%</b>",
        steps=[
            StepRecord(
                weight=10,
                started_at=T0 + 10,
                ended_at=T0 + 20,
                canary_requests=100,
                total_requests=1000,
            )
        ],
        verdicts=[
            VerdictNote(T0 + 12, "pass", "all checks pass", 40, False),
            VerdictNote(
                T0 + 29,
                "fail",
                "istio-error-ratio: canary worse",
                180,
                False,
                ("istio-error-ratio/errors: value 0.034",),
            ),
        ],
    )
    demo = DemoResult(
        scenario=SCENARIOS["errors"],
        options=DemoOptions(scenario="errors"),
        spec_text="spec:\n  version: <version>\n",
        started_at=T0,
        finished_at=T0 + 32,
        versions=[v3],
        timeline=timeline(),
        final={"virtual_service": {"v1": 100}, "envoy": {"v1": 100}, "phase": "RolledBack"},
        alerts=["21:04:58 POST /slack -> 200  [slack] rolled back"],
        expected={"v3": "rolled-back"},
    )
    return demo


def test_the_chart_draws_weight_share_error_rate_and_decisions() -> None:
    svg = chart_svg(result())
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    paths = re.findall(r'<path d="([^"]+)"', svg)
    assert len(paths) == 2  # the weight and the error rate
    assert len(re.findall(r"<circle ", svg)) >= 15  # measured shares, one per second
    assert "v3 pushed" in svg and "v3 rolled-back" in svg


def test_the_report_is_self_contained_and_escapes_text(tmp_path: Path) -> None:
    path = write_report(result(), tmp_path / "report.html")
    page = path.read_text()
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "&lt;b&gt;3.4%&lt;/b&gt;" in page and "<b>3.4%</b>" not in page
    assert "10.0%" in page  # the step's measured share
    assert "19.0 s after its first request" in page
    assert "failed check istio-error-ratio/errors: value 0.034" in page
    assert "version: &lt;version&gt;" in page


def test_a_gateway_api_report_shows_the_httproute_the_rollout_left(tmp_path: Path) -> None:
    routed = dataclasses.replace(
        result(),
        final={"virtual_service": None, "envoy": {"v2": 100}, "phase": "Succeeded"},
        http_route=[HTTPRouteState(T0 + 30, {"checkout-primary": 100}, {"checkout-primary": "v2"})],
    )
    page = write_report(routed, tmp_path / "report.html").read_text()
    assert (
        "HTTPRoute <code>{&#x27;backend_weights&#x27;: {&#x27;checkout-primary&#x27;: 100}" in page
    )
    assert "VirtualService <code>" not in page
    assert "VirtualService <code>{&#x27;v1&#x27;: 100}</code>" in render_report(result())


def test_a_managed_report_shows_each_version_s_replicas_over_time(tmp_path: Path) -> None:
    managed = dataclasses.replace(
        result(), replicas={"v1": [[15.4, 2], [80.4, 0]], "v3": [[65.5, 1], [78.1, 0]]}
    )
    page = write_report(managed, tmp_path / "report.html").read_text()
    assert "<tr><td>v1</td><td>2 at 15.4 s, 0 at 80.4 s</td></tr>" in page
    assert "<h2>Replicas</h2>" not in render_report(result())
