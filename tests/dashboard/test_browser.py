"""The dashboard in a real browser, on a live rollout: Debian's Chromium driven by Playwright.

Inputs: the end-to-end world (the controller as ``rollout run`` builds it, the real
Prometheus, the simulated traffic, the spec repository) with ``checkout`` at v1, a spec for
v2 whose steps stop at a manual gate (``pause: {}``), and ``rollout dashboard`` as a
person runs it. The browser opens the printed URL, the list, then the rollout's page
before v2 is pushed. Outputs under test: the chart and the weight on the open page move
to 20% without a reload; the phase reaches the gate; pressing promote (and confirming)
is recorded with the person's name and the rollout goes on to succeed. A screenshot of each
page (and of the rollout page at a phone's width) is saved under ``test-artifacts/``
(``ROLLOUT_TEST_ARTIFACTS`` overrides it) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from rollout.controller import Controller
from tests.dashboard.dashboard_process import running_dashboard
from tests.e2e.world import (
    SpecRepo,
    TrafficSimulator,
    git,
    phase_of,
    push_hook,
    rollout_status,
    wait_for,
)

# a whole canary through a gate on a shared machine: more than the suite's default 300 s
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
GATED_SPEC = """\
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
  namespace: shop
spec:
  version: {version}
  traffic:
    host: checkout.shop.svc.cluster.local
    destinationRule: checkout
    virtualServices:
      - name: checkout
  steps:
    - setWeight: 20
    - analyze: {{duration: 2s}}
    - pause: {{}}
    - setWeight: 50
    - analyze: {{duration: 2s}}
  analysis:
    interval: 1s
    minSampleSize: 50
    maxInconclusive: 60
    policies:
      - name: istio-error-ratio
  progressDeadline: 2m
"""


def artifacts() -> Path:
    where = Path(os.environ.get("ROLLOUT_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
    path = where / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def browser() -> Iterator[BrowserContext]:
    """Chromium from Debian, headless, with a fresh profile; no browser is downloaded."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup-env installs Debian's chromium")
    profile = tempfile.mkdtemp(prefix="rollout-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900},
            )
            context.set_default_timeout(30_000)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def push_gated(repo: SpecRepo, version: str) -> str:
    path = repo.work / "rollouts" / "checkout.yaml"
    path.write_text(GATED_SPEC.format(version=version))
    git(repo.work, "add", ".")
    git(repo.work, "commit", "-qm", f"checkout: roll out {version} with a manual gate")
    git(repo.work, "push", "-q", "origin", "main")
    return git(repo.work, "rev-parse", "HEAD")


def explained(app: kubernetes.client.ApiClient, traffic: TrafficSimulator) -> str:
    """What the Rollout says and what the simulated traffic sent, for a failure message."""
    status = rollout_status(app)
    verdict = status.get("lastVerdict") or {}
    return (
        f"phase {status.get('phase')!r}, weight {status.get('canaryWeight')}, "
        f"message {status.get('message')!r}, last verdict {verdict.get('reason')!r} "
        f"with evidence {verdict.get('evidence')!r:.2000}; requests sent per version "
        f"{traffic.sent}"
    )


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(artifacts() / f"{name}.png"), full_page=True)


def test_watch_a_canary_move_and_promote_it_at_the_gate(
    controller: Controller,
    app: kubernetes.client.ApiClient,
    traffic: TrafficSimulator,
    spec_repo: SpecRepo,
    kubeconfig: Path,
    browser: BrowserContext,
) -> None:
    wait_for(lambda: phase_of(app)[:2] == ("Succeeded", "v1"), timeout=60, what="v1 adopted")
    with running_dashboard(kubeconfig, interval=0.5) as dashboard:
        page = browser.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(dashboard.url)
        expect(page.locator("table.rollouts")).to_contain_text("shop/checkout")
        expect(page.locator("table.rollouts")).to_contain_text("Succeeded")
        assert dashboard.token not in page.url  # the redirect took the token out of the URL
        shoot(page, "01-list")

        page.click("text=shop/checkout")
        expect(page.locator("h1")).to_contain_text("checkout")
        expect(page.locator("#live")).to_contain_text("live")
        loaded = page.evaluate("performance.timeOrigin")

        commit = push_gated(spec_repo, "v2")
        assert push_hook(controller, commit) in (200, 202)
        # the open page follows the canary: weight text, bar and chart, with no reload
        expect(page.locator("#weight")).to_have_text("20", timeout=180_000)
        expect(page.locator("#rollout")).to_have_attribute("data-last-weight", "20")
        expect(page.locator("#canary")).to_have_text("v2")
        assert page.evaluate("performance.timeOrigin") == loaded
        expect(page.locator("#evidence-chart .u-legend")).to_contain_text("istio-error-ratio")
        expect(page.locator("#spec-changed")).to_be_visible()
        shoot(page, "02-rollout-at-20")

        # the manual gate: the rollout waits for a person
        expect(page.locator("#steps .step-current")).to_have_text("pause", timeout=180_000)
        shoot(page, "03-rollout-at-the-gate")
        page.click("button.action-promote")
        expect(page.locator("#done")).to_contain_text("promote requested by")
        expect(page.locator(".timeline")).to_contain_text("(dashboard)")
        try:
            expect(page.locator("#weight")).to_have_text("50", timeout=180_000)
        except AssertionError as error:
            raise AssertionError(f"{error}\nthe rollout: {explained(app, traffic)}") from None
        shoot(page, "04-rollout-promoted-past-the-gate")
        wait_for(lambda: phase_of(app)[:2] == ("Succeeded", "v2"), timeout=180, what="v2 promoted")
        expect(page.locator("#phase")).to_have_text("Succeeded", timeout=30_000)
        shoot(page, "05-rollout-succeeded")

        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        expect(page.locator("#live")).to_contain_text("live")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px phone screen"
        shoot(page, "06-rollout-on-a-phone")
        page.goto(dashboard.base + "/")
        shoot(page, "07-list-on-a-phone")
