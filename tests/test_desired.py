"""Which spec a stored Rollout runs: parse, policies, last-valid fallback, Git's verdict.

Inputs: stored Rollouts (spec bodies as the cluster holds them, mirrored from Git or not)
and spec sets read from Git texts. Outputs: the ``Desired`` spec with its policies, commit,
author, ``deleted`` and ``spec_problems``, or the problem that leaves nothing to run.
"""

from __future__ import annotations

from typing import Any

from rollout.desired import DesiredSpecs
from rollout.ports import Desired, SpecSet, Stored
from rollout.source.files import read_catalog
from rollout.state import RolloutState

PATH = "rollouts/checkout.yaml"


def spec(version: str = "v2", policy: str = "istio-error-ratio") -> dict[str, Any]:
    return {
        "version": version,
        "traffic": {
            "host": "checkout",
            "destinationRule": "checkout",
            "virtualServices": [{"name": "checkout"}],
        },
        "steps": [{"setWeight": 50}, {"setWeight": 100}],
        "analysis": {"policies": [{"name": policy}]},
    }


def text(version: str = "v2", *, broken: bool = False) -> str:
    steps = "steps: {not: a list}" if broken else "steps: [{setWeight: 50}, {setWeight: 100}]"
    return f"""\
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata: {{name: checkout, namespace: shop}}
spec:
  version: {version}
  traffic:
    host: checkout
    destinationRule: checkout
    virtualServices: [{{name: checkout}}]
  {steps}
  analysis: {{policies: [{{name: istio-error-ratio}}]}}
"""


def stored(body: dict[str, Any], *, mirrored: bool = True) -> Stored:
    return Stored(
        namespace="shop",
        name="checkout",
        state=RolloutState(),
        resource_version="7",
        spec=body,
        commit="c0ffee" if mirrored else None,
        source_path=PATH if mirrored else None,
    )


def git(files: dict[str, str]) -> SpecSet:
    return SpecSet(
        catalog=read_catalog(files, commit="c0ffee"),
        mirrored=True,
        authors={PATH: "alice"},
        commit_author="bob",
    )


def test_a_valid_mirrored_spec_runs_with_its_policies_and_author() -> None:
    specs = DesiredSpecs()
    specs.update(git({PATH: text()}))
    desired = specs.resolve(stored(spec()))
    assert isinstance(desired, Desired)
    assert desired.rollout.spec.version == "v2"
    assert [p.name for p in desired.policies] == ["istio-error-ratio"]
    assert (desired.commit, desired.author) == ("c0ffee", "alice")
    assert not desired.deleted and desired.spec_problems == ()


def test_an_invalid_newer_git_spec_keeps_the_mirrored_one_and_says_why() -> None:
    specs = DesiredSpecs()
    specs.update(git({PATH: text("v3", broken=True)}))
    desired = specs.resolve(stored(spec("v2")))
    assert isinstance(desired, Desired) and desired.rollout.spec.version == "v2"
    assert desired.spec_problems and all(PATH in p for p in desired.spec_problems)
    assert not desired.deleted


def test_a_spec_gone_from_git_is_deleted_but_one_applied_by_others_is_not() -> None:
    specs = DesiredSpecs()
    specs.update(git({}))
    gone = specs.resolve(stored(spec()))
    assert isinstance(gone, Desired) and gone.deleted
    applied = specs.resolve(stored(spec(), mirrored=False))
    assert isinstance(applied, Desired) and not applied.deleted


def test_an_invalid_cluster_spec_falls_back_to_the_last_valid_one() -> None:
    specs = DesiredSpecs()
    specs.update(SpecSet(catalog=read_catalog({})))
    first = specs.resolve(stored(spec("v2"), mirrored=False))
    assert isinstance(first, Desired)
    broken = spec("v3")
    del broken["traffic"]
    again = specs.resolve(stored(broken, mirrored=False))
    assert isinstance(again, Desired) and again.rollout.spec.version == "v2"
    assert again.spec_problems == ("spec.traffic: required field is missing",)


def test_with_nothing_to_fall_back_on_the_problem_is_returned() -> None:
    specs = DesiredSpecs()
    specs.update(SpecSet(catalog=read_catalog({})))
    problem = specs.resolve(stored(spec(policy="no-such-policy"), mirrored=False))
    assert problem == "spec.analysis.policies: unknown policy 'no-such-policy'"
    specs.forget("shop/checkout")
    assert isinstance(specs.resolve(stored(spec(), mirrored=False)), Desired)
    specs.keep_only(set())
    assert isinstance(specs.resolve(stored(spec("v9", "nope"), mirrored=False)), str)


def test_an_unchanged_rollout_is_resolved_once_and_a_change_resolves_again() -> None:
    specs = DesiredSpecs()
    specs.update(git({PATH: text()}))
    first = specs.resolve(stored(spec()))
    assert isinstance(first, Desired)
    assert specs.resolve(stored(spec())) is first  # an equal body: the same resolution
    changed = specs.resolve(stored(spec(version="v3")))
    assert isinstance(changed, Desired) and changed.rollout.spec.version == "v3"
    specs.update(git({PATH: text()}))  # a new reading of the source: resolved against it
    again = specs.resolve(stored(spec(version="v3")))
    assert isinstance(again, Desired) and again is not changed
    assert again.spec_hash == changed.spec_hash != first.spec_hash
