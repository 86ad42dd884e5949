"""``rollout dashboard`` as a person runs it: one-time token, session cookie, pages, actions.

Inputs: the command run as a process with an admin kubeconfig for the stand-in API server
holding ``shop/checkout`` (mid-canary) and ``ops/api``; HTTP requests made with and
without the printed URL's token, the session cookie and the form's CSRF token. Outputs:
status codes, what the pages name (and never show: the alert URL, the token), the live
stream's first events, and the command annotation an action leaves on the Rollout.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rollout.kube.store import KubeStateStore
from tests.dashboard.dashboard_process import Dashboard, running_dashboard


@pytest.fixture
def dashboard(kubeconfig: Path, rollouts: KubeStateStore) -> Iterator[Dashboard]:
    with running_dashboard(kubeconfig) as started:
        yield started


@contextlib.contextmanager
def signed_in(dashboard: Dashboard) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard.base, timeout=30) as client:
        answer = client.get(f"/?token={dashboard.token}", follow_redirects=True)
        assert answer.status_code == 200
        yield client


def test_without_the_token_every_request_is_401(dashboard: Dashboard) -> None:
    with httpx.Client(base_url=dashboard.base, timeout=30) as client:
        for path in (
            "/",
            "/rollouts/shop/checkout",
            "/rollouts/shop/checkout/stream",
            "/static/dashboard.js",
            "/nowhere",
            "/?token=guessed",
        ):
            assert client.get(path).status_code == 401, path
        assert client.post("/rollouts/shop/checkout/actions").status_code == 401


def test_the_printed_url_signs_in_once_and_the_list_names_the_rollouts(
    dashboard: Dashboard,
) -> None:
    with httpx.Client(base_url=dashboard.base, timeout=30) as client:
        first = client.get(f"/?token={dashboard.token}")
        assert first.status_code == 303
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        page = client.get("/")
        assert page.status_code == 200
        assert "shop/checkout" in page.text and "ops/api" in page.text
        assert dashboard.token not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"
    with httpx.Client(base_url=dashboard.base, timeout=30) as other:
        assert other.get(f"/?token={dashboard.token}").status_code == 401  # spent


def test_filters_and_the_rollout_page(dashboard: Dashboard) -> None:
    with signed_in(dashboard) as client:
        only_ops = client.get("/", params={"namespace": "ops"}).text
        assert "ops/api" in only_ops and "shop/checkout" not in only_ops
        listed = client.get("/").text
        # the version the spec in Git asks for, beside the versions running
        assert '<td data-label="In Git">v2</td>' in listed
        assert '<td data-label="In Git">v7</td>' in listed
        searched = client.get("/", params={"q": "v2"}).text
        assert "shop/checkout" in searched and "ops/api" not in searched
        page = client.get("/rollouts/shop/checkout").text
        assert '<span id="desired">v2</span>' in page
        for shown in ("Progressing", "istio-error-ratio", "alice@laptop", "setWeight 50"):
            assert shown in page
        assert "SECRET-PART" not in page and "(redacted)" in page
        assert 'class="step step-current">analyze' in page
        # numbered from 0, as the status messages and `rollout plan` number steps
        assert '<ol class="steps" id="steps" start="0">' in page
        assert client.get("/rollouts/shop/nothing").status_code == 404


def test_the_stream_sends_chart_points_and_the_state(dashboard: Dashboard) -> None:
    with (
        signed_in(dashboard) as client,
        client.stream("GET", "/rollouts/shop/checkout/stream") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        events: dict[str, object] = {}
        lines = stream.iter_lines()
        while len(events) < 2:
            line = next(lines)
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
                events[name] = json.loads(next(lines).removeprefix("data: "))
    points = events["points"]
    assert isinstance(points, list)
    assert points[-1]["weight"] == 20
    assert points[-1]["policies"]["istio-error-ratio errors"]["threshold"] == 0.01
    state = events["state"]
    assert isinstance(state, dict)
    assert (state["phase"], state["steps"][1]["status"]) == ("Progressing", "current")


def test_an_action_needs_the_csrf_token_and_records_the_user(
    dashboard: Dashboard, rollouts: KubeStateStore
) -> None:
    with signed_in(dashboard) as client:
        page = client.get("/rollouts/shop/checkout").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        refused = client.post(
            "/rollouts/shop/checkout/actions", data={"action": "promote", "csrf": "forged"}
        )
        assert refused.status_code == 403
        assert rollouts.load("shop", "checkout").command is None
        other_site = client.post(
            "/rollouts/shop/checkout/actions",
            data={"action": "promote", "csrf": csrf.group(1)},
            headers={"Origin": "https://evil.example"},
        )
        assert other_site.status_code == 403
        done = client.post(
            "/rollouts/shop/checkout/actions", data={"action": "promote", "csrf": csrf.group(1)}
        )
        assert done.status_code == 303
    command = rollouts.load("shop", "checkout").command
    assert command is not None
    assert command.action == "promote"
    assert command.by.endswith("(dashboard)") and "@" in command.by
