"""The hooks of a Rollout spec: kinds, defaults, names, and what ``rollout plan`` says of them.

Inputs: ``spec.hooks`` bodies. Outputs under test: the model accepts each kind with its
defaults, refuses a duplicate name and an inline URL without consent, and the plan has one
line per hook saying when it is called and what a no or a failure does.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rollout.spec.hooks import GATES, HookKind
from rollout.spec.plan import plan
from rollout.spec.rollout import Rollout
from tests.rollouts import make_rollout


def hook(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "url": {"env": "HOOK_URL"}, **extra}


def test_every_kind_is_accepted_with_its_defaults() -> None:
    rollout = make_rollout("v2", hooks=[hook(kind.value, kind.value) for kind in HookKind])
    assert [h.type for h in rollout.spec.hooks] == list(HookKind)
    assert {h.timeout for h in rollout.spec.hooks} == {"5s"}
    assert {h.retries for h in rollout.spec.hooks} == {2}
    assert rollout.hooks_of(HookKind.CONFIRM_STEP)[0].name == "confirm-step"
    assert (
        {kind for kind in HookKind if kind.gate}
        == GATES
        == {
            HookKind.PRE_ROLLOUT,
            HookKind.CONFIRM_STEP,
            HookKind.CONFIRM_PROMOTION,
        }
    )


@pytest.mark.parametrize(
    ("hooks", "fragment"),
    [
        ([hook("qa", "confirm-step"), hook("qa", "load")], "hook 'qa' is listed twice"),
        ([hook("qa", "confirm-step", url={"value": "http://qa.test"})], "inline url"),
        ([hook("qa", "confirm-step", retries=6)], "less than or equal to 5"),
        ([hook("qa", "confirm-step", timeout="soon")], "expected a duration"),
        ([hook("QA", "confirm-step")], "not a valid name"),
        ([hook("qa", "post-rollout")], "'confirm-promotion'"),
    ],
)
def test_mistakes_are_refused(hooks: list[dict[str, Any]], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        make_rollout("v2", hooks=hooks)


def test_an_inline_url_with_consent_is_accepted() -> None:
    inline = hook("qa", "confirm-step", url={"value": "http://qa.test"}, allowInlineUrl=True)
    rollout = make_rollout("v2", hooks=[inline])
    assert rollout.spec.hooks[0].url.value == "http://qa.test"


def test_the_plan_names_each_hook_when_and_what_a_failure_does() -> None:
    rollout: Rollout = make_rollout(
        "v2",
        hooks=[
            hook("qa", "confirm-step", timeout="2s", retries=1),
            hook("deploy-log", "post-promotion"),
            hook("traffic", "load"),
        ],
    )
    lines = plan(rollout).lines()
    hooks = lines[lines.index("hooks:") + 1 :]
    assert hooks == [
        "  confirm-step qa: before each raise of the canary weight; 2 attempt(s) of 2s; "
        "a no, a timeout or an unreachable receiver holds",
        "  post-promotion deploy-log: after a promotion; 3 attempt(s) of 5s; "
        "a failure is reported (an Event and a hookFailed alert)",
        "  load traffic: at each tick while a step waits for evidence; 3 attempt(s) of 5s; "
        "not waited on",
    ]


def test_a_plan_without_hooks_has_no_hooks_section() -> None:
    assert "hooks:" not in plan(make_rollout("v2")).lines()
