"""The routing spec: ``setHeaderRoute``, ``setMirror`` and ``sessionAffinity``.

Inputs: spec files with good and broken routing, run through ``rollout validate`` and
``rollout plan`` as a user runs them, and step lists. Outputs: one ``path:line: field:
message`` line per mistake, the plan's lines, and the routing in force after each step.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from rollout.cli.main import main
from rollout.spec.routing import CookieMatch, HeaderRoute, Routing, routing_at
from tests.rollouts import make_rollout

HEAD = """apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata:
  name: storefront
  namespace: shop
spec:
  version: v2
  traffic:
    host: storefront
    destinationRule: storefront
    virtualServices:
      - name: storefront
"""
BROKEN = (
    HEAD
    + """    sessionAffinity:
      cookieName: "bad cookie"
  steps:
    - setHeaderRoute:
        headers:
          x-canary: {exact: "always", prefix: "a"}
          x-user: {regex: "(?=a)b"}
    - setMirror: {percent: 120}
    - setHeaderRoute: {cookie: {name: beta, value: "a b"}}
    - setMirror: {percent: 10}
      setWeight: 5
"""
)
GOOD = (
    HEAD
    + """  steps:
    - setHeaderRoute:
        headers:
          X-Canary: {exact: "always"}
    - setMirror: {percent: 12.5}
    - setHeaderRoute: {}
    - setWeight: 20
"""
)


def test_each_mistake_is_one_line_naming_its_path_line_and_field(tmp_path: Path) -> None:
    spec = tmp_path / "storefront.yaml"
    spec.write_text(BROKEN)
    for command in ("validate", "plan"):
        result = CliRunner().invoke(main, [command, str(spec)])
        assert result.exit_code == 1
        lines = [line for line in result.output.splitlines() if line.startswith(f"{spec}:")]
        if command == "plan":
            assert lines.pop() == f"{spec}: no valid rollout to plan"
        assert lines == [
            f"{spec}:14: spec.traffic.sessionAffinity.cookieName: 'bad cookie' is not a valid "
            "cookie name (an HTTP token)",
            f"{spec}:18: spec.steps[0].setHeaderRoute.headers.x-canary: a header match needs "
            "exactly one of exact, prefix or regex, got exact, prefix",
            f"{spec}:19: spec.steps[0].setHeaderRoute.headers.x-user: regex '(?=a)b' uses "
            "look-arounds or back-references, which RE2 does not have",
            f"{spec}:20: spec.steps[1].setMirror.percent: must be less than or equal to 100, "
            "got 120",
            f"{spec}:21: spec.steps[2].setHeaderRoute.cookie.value: 'a b' is not a valid "
            "cookie value",
            f"{spec}:22: spec.steps[3]: each step needs exactly one of setWeight, pause, "
            "analyze, setHeaderRoute or setMirror, got setWeight, setMirror",
        ], result.output


def test_plan_shows_what_each_routing_step_does(tmp_path: Path) -> None:
    spec = tmp_path / "storefront.yaml"
    spec.write_text(GOOD)
    result = CliRunner().invoke(main, ["plan", str(spec)])
    assert result.exit_code == 0, result.output
    assert (
        "   0      0%  0s              send requests with x-canary exact 'always' to the canary"
        in (result.output)
    )
    assert "mirror 12.5% of the traffic to the canary (responses discarded)" in result.output
    assert "   2      0%  0s              remove the header route" in result.output


def test_the_routing_in_force_follows_the_steps_done() -> None:
    rollout = make_rollout(
        "v2",
        steps=[
            {"setHeaderRoute": {"cookie": {"name": "beta", "value": "yes"}}},
            {"setMirror": {"percent": 30}},
            {"setHeaderRoute": {}},
            {"setWeight": 10},
        ],
    )
    assert routing_at(rollout, 0) == Routing()
    cookie = HeaderRoute(cookie=CookieMatch(name="beta", value="yes"))
    assert routing_at(rollout, 1) == Routing(header_route=cookie)
    assert routing_at(rollout, 2) == Routing(header_route=cookie, mirror_percent=30)
    assert routing_at(rollout, 4) == Routing(mirror_percent=30)


def test_the_cookie_header_is_matched_by_cookie_only() -> None:
    with pytest.raises(ValidationError, match="use cookie for cookies"):
        HeaderRoute.model_validate({"headers": {"Cookie": {"exact": "a=b"}}})
    route = HeaderRoute.model_validate({"headers": {"X-Canary": {"prefix": "al"}}})
    assert list(route.headers) == ["x-canary"], "header names are matched lower-case"


def test_a_cookie_is_matched_among_others_and_only_with_its_exact_value() -> None:
    pattern = CookieMatch(name="beta", value="y.s").as_header_match().regex
    assert pattern is not None
    assert re.match(pattern, "beta=y.s")
    assert re.match(pattern, "a=1; beta=y.s; c=2")
    assert not re.match(pattern, "beta=yes")
    assert not re.match(pattern, "xbeta=y.s")
    assert not re.match(pattern, "beta=y.sx")


def test_blue_green_makes_the_steps_a_preview_then_one_switch_to_100() -> None:
    rollout = make_rollout(
        "v2", steps=None, blueGreen={"previewAnalysis": "30s", "rollbackWindow": "2m"}
    )
    assert [step.kind for step in rollout.spec.steps] == [
        "setHeaderRoute",
        "analyze",
        "setWeight",
        "analyze",
    ]
    assert rollout.planned_weights() == [0, 0, 100, 100], "no weight between 0 and 100"
    preview = routing_at(rollout, 1).header_route
    assert preview is not None and preview.headers["x-preview"].exact == "true"
    dumped = rollout.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert type(rollout).model_validate(dumped) == rollout, "read back from the cluster"


def test_blue_green_with_other_steps_or_no_preview_match_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "storefront.yaml"
    spec.write_text(HEAD + "  blueGreen: {}\n  steps:\n    - setWeight: 10\n")
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert "blueGreen makes the steps itself: give blueGreen or steps, not both" in result.output
    spec.write_text(HEAD + "  blueGreen:\n    preview: {}\n")
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert f"{spec}:14: spec.blueGreen.preview: the preview route needs a header" in result.output
