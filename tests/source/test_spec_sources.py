"""The two spec sources: Git (read at one commit, valid specs published as mirrors) and the
cluster.

Inputs: a real Git repository with a valid and an invalid spec, policy files on disk, and
a recording ``SpecMirror`` (the Kubernetes one is tested in ``tests/kube``). Outputs: the
spec set (catalog, authors, ``mirrored``), what was handed to the mirror, and retirement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rollout.errors import ClusterError
from rollout.ports import MirrorResult
from rollout.source.git import GitCredentials, GitSource
from rollout.source.spec_sources import ClusterSpecSource, GitSpecSource
from tests.source.git_servers import Remote

ROLLOUT = """\
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata: {{name: {name}, namespace: shop}}
spec:
  version: v2
  traffic: {{host: {name}, destinationRule: {name}, virtualServices: [{{name: {name}}}]}}
  steps: [{{setWeight: 50}}]
"""

POLICY = """\
apiVersion: canary.rollout.dev/v1alpha1
kind: Policy
metadata: {name: house-latency}
spec:
  type: latency
  params: {maxMs: 250}
  quantile: histogram_quantile(0.99, sum by (le) (rate(latency_bucket[1m])))
  maxMs: "{{ maxMs }}"
"""


@dataclasses.dataclass
class RecordingMirror:
    mirrored: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    deleted: list[str] = dataclasses.field(default_factory=list)
    fail_for: str | None = None

    def mirror_spec(
        self, rollout_body: Mapping[str, Any], *, commit: str, path: str
    ) -> MirrorResult:
        name = rollout_body["metadata"]["name"]
        if name == self.fail_for:
            raise ClusterError("connection refused")
        self.mirrored.append((name, commit, path))
        return MirrorResult.CREATED

    def delete_mirror(self, namespace: str, name: str) -> bool:
        self.deleted.append(f"{namespace}/{name}")
        return True


def test_git_mirrors_every_valid_spec_at_its_commit_and_names_authors(
    remote: Remote, tmp_path: Path
) -> None:
    sha = remote.commit(
        "two specs",
        {
            "checkout.yaml": ROLLOUT.format(name="checkout"),
            "cart.yaml": ROLLOUT.format(name="cart"),
            "broken.yaml": ROLLOUT.format(name="broken").replace("steps:", "steps: 3 #"),
        },
    )
    remote.push()
    mirror = RecordingMirror(fail_for="cart")
    git = GitSource(remote.file_url, cache_dir=tmp_path / "cache", credentials=GitCredentials())
    source = GitSpecSource(git, mirror)
    try:
        specs = source.sync()
        assert mirror.mirrored == [], "reading mirrors nothing"
        source.publish(specs)
    finally:
        source.close()

    assert mirror.mirrored == [("checkout", sha, "checkout.yaml")], "cart failed, broken is not"
    assert sorted(specs.catalog.rollouts) == ["shop/cart", "shop/checkout"]
    assert "shop/broken" in specs.catalog.invalid_rollouts
    assert specs.mirrored and specs.commit_author == specs.authors["checkout.yaml"]
    source.retire("shop", "checkout")
    assert mirror.deleted == ["shop/checkout"]


def test_the_cluster_source_reads_only_policies_and_reports_a_missing_path(
    tmp_path: Path,
) -> None:
    (tmp_path / "house.yaml").write_text(POLICY, encoding="utf-8")
    source = ClusterSpecSource([str(tmp_path), str(tmp_path / "missing")])

    specs = source.sync()

    assert "house-latency" in specs.catalog.policies
    assert "istio-error-ratio" in specs.catalog.policies, "the shipped ones too"
    assert [p.message for p in specs.catalog.problems] == ["no such file or directory"]
    assert not specs.mirrored
    source.publish(specs)
    source.retire("shop", "checkout")
    source.close()
