"""The HTML report of a ``rollout demo`` run: one self-contained file, no script, no network.

A newcomer who missed the terminal output opens it and sees what happened: an inline SVG
chart of the canary's weight (as Envoy applied it), the share of requests Envoy actually
sent to the canary, and the canary's error rate, over time, with each push and decision
marked; then per version the outcome, the time from its first request to the decision,
each step's weight against the share Envoy measured, the verdicts and why; the alerts
received; and the rollout spec the demo pushed.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rollout_local.demo.monitor import TimelinePoint, VerdictNote, VersionRecord
from rollout_local.demo.story import DemoResult

__all__ = ["chart_svg", "render_report", "write_report"]

WIDTH, HEIGHT = 920, 380
LEFT, RIGHT, TOP, BOTTOM = 56, 64, 34, 48
BUCKET_SECONDS = 1.0
ERROR_WINDOW_BUCKETS = 3
MIN_REQUESTS_FOR_ERROR_RATE = 30
_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { padding: 3px 10px; text-align: left;
border-bottom: 1px solid #ddd; } th { background: #f4f4f4; } .num { text-align: right; }
.promoted { color: #17803d; font-weight: 600; } .rolled-back { color: #c0392b; font-weight: 600; }
.paused { color: #b9770e; font-weight: 600; } pre { background: #f7f7f7; padding: .8em;
overflow-x: auto; font-size: 13px; } .small { color: #666; font-size: 13px; }
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _buckets(
    timeline: Sequence[TimelinePoint], origin: float
) -> list[tuple[float, int, float | None, float | None]]:
    """Per second: (t, canary weight, measured canary share %, canary error rate %).

    The error rate is taken over the last few seconds of the same canary, and only once
    they hold some requests, so one error among a handful does not read as a spike."""
    grouped: dict[int, list[TimelinePoint]] = {}
    for point in timeline:
        grouped.setdefault(int((point.at - origin) // BUCKET_SECONDS), []).append(point)
    rows = []
    recent: list[tuple[str | None, int, int]] = []  # (canary, served, failed) per bucket
    for index in sorted(grouped):
        points = grouped[index]
        canary = points[-1].canary
        weight = points[-1].weights.get(canary, 0) if canary else 0
        total = sum(sum(p.requests.values()) for p in points)
        served = sum(p.requests.get(canary, 0) for p in points) if canary else 0
        failed = sum(p.errors.get(canary, 0) for p in points) if canary else 0
        share = 100.0 * served / total if canary and total else None
        recent = [*recent, (canary, served, failed)][-ERROR_WINDOW_BUCKETS:]
        window = [(s, f) for c, s, f in recent if c == canary and canary]
        window_served = sum(s for s, _ in window)
        enough = served and window_served >= MIN_REQUESTS_FOR_ERROR_RATE
        error_rate = 100.0 * sum(f for _, f in window) / window_served if enough else None
        rows.append(((index + 0.5) * BUCKET_SECONDS, weight, share, error_rate))
    return rows


def _polyline(points: Sequence[tuple[float, float]], gap: float) -> str:
    """An SVG path through the points, lifting the pen where they are more than ``gap`` apart."""
    commands = []
    previous: float | None = None
    for x, y in points:
        move = previous is None or x - previous > gap
        commands.append(f"{'M' if move else 'L'}{x:.1f},{y:.1f}")
        previous = x
    return " ".join(commands)


def chart_svg(result: DemoResult) -> str:
    """Canary weight, measured share and error rate over time, with pushes and decisions."""
    origin = result.started_at
    rows = _buckets(result.timeline, origin)
    span = max([result.seconds_total, *(row[0] for row in rows), 1.0])
    errors = [row[3] for row in rows if row[3] is not None]
    error_top = max(10.0, *errors) if errors else 10.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * t / span

    def y_weight(percent: float) -> float:
        return TOP + plot_h * (1 - percent / 100.0)

    def y_error(percent: float) -> float:
        return TOP + plot_h * (1 - min(percent, error_top) / error_top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="canary weight and error rate">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fcfcfc" '
        'stroke="#bbb"/>',
    ]
    for percent in range(0, 101, 20):
        y = y_weight(percent)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#1f5fbf">{percent}%</text>'
            f'<text x="{LEFT + plot_w + 6}" y="{y + 4:.1f}" font-size="11" fill="#c0392b">'
            f"{error_top * percent / 100:.1f}%</text>"
        )
    step = 10 if span <= 120 else 30
    for second in range(0, int(span) + 1, step):
        parts.append(
            f'<text x="{x(second):.1f}" y="{TOP + plot_h + 16}" font-size="11" '
            f'text-anchor="middle" fill="#555">{second}s</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" font-size="12" text-anchor="middle" '
        'fill="#333">seconds since the demo started</text>'
    )
    parts.extend(_markers(result.versions, origin, x, TOP, plot_h))
    if rows:
        first_t, first_w = rows[0][0], rows[0][1]
        weight_path = f"M{x(first_t):.1f},{y_weight(first_w):.1f} " + " ".join(
            f"H{x(t):.1f} V{y_weight(w):.1f}" for t, w, _, _ in rows[1:]
        )  # a step line: a weight holds until the next one is applied
        parts.append(f'<path d="{weight_path}" fill="none" stroke="#1f5fbf" stroke-width="2.5"/>')
        for t, _, share, _ in rows:
            if share is not None:
                parts.append(
                    f'<circle cx="{x(t):.1f}" cy="{y_weight(share):.1f}" r="2.5" fill="#7fb3ff"/>'
                )
        error_points = [(x(t), y_error(e)) for t, _, _, e in rows if e is not None]
        if error_points:
            error_path = _polyline(error_points, gap=x(1.6 * BUCKET_SECONDS) - x(0))
            parts.append(
                f'<path d="{error_path}" fill="none" stroke="#c0392b" stroke-width="1.8"/>'
            )
    legend = [
        ("#1f5fbf", "canary weight (Envoy)"),
        ("#7fb3ff", "canary share measured at Envoy"),
        ("#c0392b", "canary error rate (right axis)"),
    ]
    for index, (colour, label) in enumerate(legend):
        left = LEFT + index * 250
        parts.append(
            f'<rect x="{left}" y="10" width="14" height="8" fill="{colour}"/>'
            f'<text x="{left + 20}" y="18" font-size="12" fill="#333">{_esc(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _markers(
    versions: Sequence[VersionRecord],
    origin: float,
    x: Callable[[float], float],
    top: float,
    height: float,
) -> list[str]:
    marks: list[str] = []
    for record in versions:
        events = [(record.pushed_at, f"{record.version} pushed", "#888")]
        if record.decided_at is not None and record.outcome:
            colour = "#17803d" if record.outcome == "promoted" else "#c0392b"
            events.append((record.decided_at, f"{record.version} {record.outcome}", colour))
        for at, label, colour in events:
            position = x(at - origin)
            marks.append(
                f'<line x1="{position:.1f}" y1="{top}" x2="{position:.1f}" y2="{top + height}" '
                f'stroke="{colour}" stroke-dasharray="4 3"/>'
                f'<text x="{position + 3:.1f}" y="{top + 12}" font-size="11" fill="{colour}" '
                f'transform="rotate(90 {position + 3:.1f} {top + 12})">{_esc(label)}</text>'
            )
    return marks


def _version_section(record: VersionRecord) -> str:
    took = record.seconds_to_decision
    outcome = record.outcome or "undecided"
    rows = "".join(
        f"<tr><td class=num>{step.weight}%</td>"
        f"<td class=num>{'' if step.measured_share is None else f'{step.measured_share:.1f}%'}"
        f"</td><td class=num>{step.canary_requests}</td><td class=num>{step.total_requests}</td>"
        f"<td class=num>{(step.ended_at or step.started_at) - step.started_at:.1f}s</td></tr>"
        for step in record.steps
    )
    verdicts = "".join(
        f"<li><b>{_esc(note.outcome)}</b> after {note.canary_requests:.0f} canary requests: "
        f"{_esc(note.reason)}"
        + "".join(f"<br><span class=small>failed check {_esc(f)}</span>" for f in note.failing)
        + "</li>"
        for note in _notable(record)
    )
    timing = f"{took:.1f} s after its first request at Envoy" if took is not None else "-"
    gate = f"<p>Promoted past the manual gate by {_esc(record.promoted_by)}.</p>" * bool(
        record.promoted_by
    )
    return (
        f"<h2>{_esc(record.version)} ({_esc(record.description)}): "
        f"<span class='{_esc(outcome)}'>{_esc(outcome)}</span></h2>"
        f"<p>Decision {timing}. Commit <code>{_esc(record.commit[:12])}</code>.<br>"
        f"Why: {_esc(record.reason)}</p>{gate}"
        "<table><tr><th>weight</th><th>share measured at Envoy</th><th>canary requests</th>"
        f"<th>all requests</th><th>held</th></tr>{rows}</table>"
        f"<p>Verdicts (changes only, of {len(record.verdicts)}):</p><ul>{verdicts}</ul>"
    )


def _notable(record: VersionRecord, limit: int = 12) -> list[VerdictNote]:
    """The verdicts whose outcome or promotability changed, and the last one."""
    notable = []
    previous: tuple[str, bool] | None = None
    for note in record.verdicts:
        key = (note.outcome, note.promotable)
        if key != previous or note is record.verdicts[-1]:
            notable.append(note)
        previous = key
    return notable[-limit:]


def render_report(result: DemoResult) -> str:
    summary = result.summary()
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(result.started_at))
    final = summary["final"]
    alerts = "".join(f"<li><code>{_esc(line)}</code></li>" for line in result.alerts)
    versions = "".join(_version_section(record) for record in result.versions)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>rollout demo: {_esc(result.scenario.name)}</title>
<style>{_STYLE}</style></head><body>
<h1>rollout demo: {_esc(result.scenario.title)}</h1>
<p>Started {_esc(started)}; {result.options.rate:.0f} requests per second through the real
Envoy; decisions by the controller from the real Prometheus. Total {result.seconds_total:.1f} s.
Outcome {"as expected" if result.as_expected else "<b>NOT as expected</b>"}.</p>
{chart_svg(result)}
<p class=small>Weights and shares are what Envoy applied and counted (its route configuration
and per-version <code>upstream_rq_total</code>), not what the controller wrote.</p>
{versions}
<h2>Final state</h2>
<p>{_final_route(result)}, Envoy
<code>{_esc(final.get("envoy"))}</code>, phase {_esc(final.get("phase"))}, stable
{_esc(final.get("stable_version"))}.</p>
{_replicas_section(result)}
<h2>Alerts received ({len(result.alerts)})</h2><ul>{alerts}</ul>
<h2>The rollout spec pushed to Git</h2><pre>{_esc(result.spec_text)}</pre>
</body></html>
"""


def _final_route(result: DemoResult) -> str:
    """The route object's last weights: the HTTPRoute's in ``gateway-api``, else the
    VirtualService's."""
    if result.http_route:
        return f"HTTPRoute <code>{_esc(result.http_route[-1].summary())}</code>"
    return f"VirtualService <code>{_esc(result.final.get('virtual_service'))}</code>"


def _replicas_section(result: DemoResult) -> str:
    """Each managed version's replicas over time (``--scenario managed``); else nothing."""
    if not result.replicas:
        return ""
    rows = "".join(
        f"<tr><td>{_esc(version)}</td><td>"
        + ", ".join(f"{n:.0f} at {t:.1f} s" for t, n in points)
        + "</td></tr>"
        for version, points in result.replicas.items()
    )
    return (
        "<h2>Replicas</h2><p>Each version's Deployment, as the controller scaled it (seconds "
        f"from the start):</p><table><tr><th>version</th><th>replicas</th></tr>{rows}</table>"
    )


def write_report(result: DemoResult, path: Path) -> Path:
    path.write_text(render_report(result), encoding="utf-8")
    return path
