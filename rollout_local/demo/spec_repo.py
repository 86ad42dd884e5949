"""The demo's spec repository and the rollout spec it commits, as a user would push it.

A bare repository is the remote the controller clones (over ``file://``); a work tree
beside it is where the demo edits ``rollouts/checkout.yaml``, commits as a named user and
pushes. After each push the demo posts a push webhook signed like GitHub's to the
controller, so the sync starts at once instead of at the next poll.

``DemoSpec`` renders the spec: 10% -> analyse 5s -> 30% -> analyse 5s -> 60% -> analyse 5s
(the ``ab`` scenario first sends a header to the canary, with sticky sessions; ``mirror``
first mirrors 20% then 50% of the traffic to it, each analysed 10s; ``bluegreen`` gives
``blueGreen`` instead: a preview by that header, analysed 10s, then 0 -> 100% at once and
a 10s rollback window; ``gateway-api`` routes by the ``checkout`` HTTPRoute and its two
Services instead of the VirtualService; ``managed`` adds ``workload.managed``: the
controller makes and scales the versions' Deployments),
then 100% (the promotion, once the verdict is promotable), with a 1 s analysis interval,
the shipped error policy and the slow-request policy (at most 5% slower than 250 ms, an
``le`` of Envoy's histogram: a test with error control, where a p99 threshold would trip
on a busy laptop's noise), a minimum sample suited to the request rate, and Slack alerts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from rollout.errors import SourceError
from rollout_local.demo.cluster import ALERT_SECRET, NAMESPACE, SERVICE, qualified_host
from rollout_local.demo.gateway_world import CANARY_SERVICE, STABLE_SERVICE

__all__ = ["DemoSpec", "SpecRepository", "post_push_hook"]

SPEC_PATH = "rollouts/checkout.yaml"
AUTHOR = ("Dana Demo", "dana@example.test")


_BLUE_GREEN = {
    "preview": {"headers": {"x-canary": {"exact": "always"}}},
    "previewAnalysis": "10s",
    "rollbackWindow": "10s",
}


@dataclasses.dataclass(frozen=True)
class DemoSpec:
    """The knobs of the demo's rollout spec."""

    weights: tuple[int, ...] = (10, 30, 60)
    hold: str = "5s"
    manual_gate_after: int | None = None
    """Index into ``weights`` after which a ``pause: {}`` waits for a person."""
    interval: str = "1s"
    min_sample_size: int = 200
    max_inconclusive: int = 30
    routing_steps: tuple[dict[str, object], ...] = ()
    """Header-route or mirror steps (each followed by an analysis) before the weights."""
    session_affinity: bool = False
    blue_green: bool = False
    """Blue/green instead of the steps: preview by the ``x-canary: always`` header."""
    gateway_api: bool = False
    """The traffic is the ``checkout`` HTTPRoute and its two Services, not Istio's."""
    managed: dict[str, object] | None = None
    """``workload.managed``: the controller makes and scales the versions' Deployments."""

    @classmethod
    def for_rate(
        cls, rate: float, *, manual_gate_after: int | None = None, routing: str | None = None
    ) -> DemoSpec:
        """A minimum sample of about what the first step sees in 10 s (at least 50); the
        ``ab`` or ``mirror`` routing steps first when asked."""
        first = cls.weights[0]
        sample = max(50, round(rate * first / 100 * 10))
        spec = cls(min_sample_size=sample, manual_gate_after=manual_gate_after)
        if routing == "ab":
            header = {"headers": {"x-canary": {"exact": "always"}}}
            return dataclasses.replace(
                spec, routing_steps=({"setHeaderRoute": header},), session_affinity=True
            )
        if routing == "bluegreen":
            return dataclasses.replace(spec, blue_green=True)
        if routing == "mirror":
            mirrors: tuple[dict[str, object], ...] = tuple(
                {"setMirror": {"percent": percent}} for percent in (20, 50)
            )
            return dataclasses.replace(spec, routing_steps=mirrors)
        return spec

    def steps(self) -> list[dict[str, object]]:
        steps: list[dict[str, object]] = []
        for routing_step in self.routing_steps:
            steps += [routing_step, {"analyze": {"duration": "10s"}}]
        if any("setMirror" in step for step in self.routing_steps):
            steps.append({"setMirror": {"percent": 0}})
        for index, weight in enumerate(self.weights):
            steps.append({"setWeight": weight})
            if self.manual_gate_after == index:
                steps.append({"pause": {}})
            else:
                steps.append({"analyze": {"duration": self.hold}})
        return steps

    def traffic(self) -> dict[str, object]:
        """The spec's ``traffic``: the VirtualService, or the HTTPRoute and its Services."""
        if self.gateway_api:
            route = {
                "name": SERVICE,
                "stableService": STABLE_SERVICE,
                "canaryService": CANARY_SERVICE,
            }
            return {"host": qualified_host(), "httpRoutes": [route]}
        return {
            "host": qualified_host(),
            "destinationRule": SERVICE,
            "virtualServices": [{"name": SERVICE, "routes": ["primary"]}],
            **(
                {"sessionAffinity": {"cookieName": "demo-version"}} if self.session_affinity else {}
            ),
        }

    def render(self, version: str) -> str:
        document = {
            "apiVersion": "canary.rollout.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE},
            "spec": {
                "version": version,
                "traffic": self.traffic(),
                **({"workload": {"managed": self.managed}} if self.managed else {}),
                **({"blueGreen": _BLUE_GREEN} if self.blue_green else {"steps": self.steps()}),
                "analysis": {
                    "interval": self.interval,
                    "minSampleSize": self.min_sample_size,
                    "maxInconclusive": self.max_inconclusive,
                    "policies": [
                        {"name": "istio-error-ratio", "params": {"maxErrorRatio": 0.01}},
                        {
                            "name": "istio-slow-request-ratio",
                            "params": {"bucketMs": "250", "maxSlowRatio": 0.05},
                        },
                    ],
                },
                "alerts": [
                    {
                        "name": "demo-slack",
                        "type": "slack",
                        "url": {"secretRef": {"name": ALERT_SECRET, "key": "slack-url"}},
                        "events": ["started", "paused", "promoted", "rolledBack", "failed"],
                    }
                ],
                "progressDeadline": "1m",
            },
        }
        header = f"# {SERVICE}: the demo's rollout spec (rollout demo)\n"
        return header + yaml.safe_dump(document, sort_keys=False)


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
        )
    except FileNotFoundError:
        raise SourceError("git is not installed") from None
    except subprocess.CalledProcessError as error:
        raise SourceError(f"git {' '.join(args)} failed: {error.stderr.strip()}") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {' '.join(args)} did not finish within 30 s") from None
    return done.stdout.strip()


class SpecRepository:
    """A bare remote and a work tree under ``root``; ``push`` commits a new version."""

    def __init__(self, root: Path, spec: DemoSpec) -> None:
        self.spec = spec
        self.remote = root / "specs.git"
        self.work = root / "specs"
        root.mkdir(parents=True, exist_ok=True)
        _git(root, "init", "-q", "--bare", "-b", "main", str(self.remote))
        _git(root, "init", "-q", "-b", "main", str(self.work))
        _git(self.work, "config", "user.name", AUTHOR[0])
        _git(self.work, "config", "user.email", AUTHOR[1])
        _git(self.work, "config", "commit.gpgsign", "false")
        _git(self.work, "remote", "add", "origin", str(self.remote))

    @property
    def url(self) -> str:
        return f"file://{self.remote}"

    def push(self, version: str, *, message: str | None = None) -> str:
        """Write the spec for ``version``, commit, push; return the commit id."""
        path = self.work / SPEC_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.spec.render(version))
        _git(self.work, "add", SPEC_PATH)
        _git(self.work, "commit", "-q", "-m", message or f"{SERVICE}: roll out {version}")
        _git(self.work, "push", "-q", "origin", "main")
        return _git(self.work, "rev-parse", "HEAD")


def post_push_hook(url: str, secret: str, commit: str, *, branch: str = "main") -> int:
    """POST a GitHub-style push event signed with ``secret``; return the HTTP status."""
    body = json.dumps({"ref": f"refs/heads/{branch}", "after": commit}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url,
        data=body,
        headers={
            "X-Hub-Signature-256": signature,
            "X-GitHub-Event": "push",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError) as error:
        raise SourceError(f"push hook to {url} failed: {error}") from None
