"""GitWriter against a real bare repository that refuses non-fast-forward pushes.

Inputs: a spec file (several Rollout documents, comments, quoting) on ``main`` of a bare
remote with ``receive.denyNonFastForwards`` and a full reflog; rollbacks to write in
``revert`` and ``statusFile`` mode; other people pushing to the same branch at the same
time (a thread pushing unrelated commits, and a pre-push hook that pushes between the
writer's fetch and its push); specs that already moved on; a token-protected HTTP remote.
Outputs: the branch's commits (by sha), the file's diff, the reflog of the remote's
branch, the writer's result, and what its cache and errors contain.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollout.errors import SourceError
from rollout.source import specedit
from rollout.source.gitauth import GitCredentials
from rollout.source.gitwrite import GitWriter
from rollout.source.rollback_commit import Identity, Rollback, WriteOutcome
from tests.source.git_history import (
    ConcurrentPusher,
    assert_only_fast_forwards,
    commits_with_trailer,
    is_ancestor,
    show,
    tip,
)
from tests.source.git_servers import Remote, SmartHttpServer, run_git
from tests.source.git_sources import NO_CREDENTIALS

SPEC_PATH = "rollouts/shop.yaml"
SPECS = """\
# Rollouts of the shop team. Edit spec.version to roll out.
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
  namespace: shop
spec:
  # bumped by the release pipeline
  version: "v3"    # keep the quotes
  traffic:
    host: checkout.shop.svc.cluster.local
    destinationRule: checkout
    virtualServices: [{name: checkout}]
---
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata: {name: cart, namespace: shop}
spec:
  version: v3
  traffic: {host: cart.shop.svc.cluster.local, destinationRule: cart,
            virtualServices: [{name: cart}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated, namespace: shop}
data: {version: v3}
"""
EVIDENCE = (
    {
        "policy": "istio-error-ratio",
        "check": "error-ratio",
        "outcome": "fail",
        "message": "canary error ratio above threshold",
        "value": 0.052,
        "threshold": 0.01,
        "sample_size": 412.0,
        "p_value": 0.0003,
    },
)
CHECK = "istio-error-ratio/error-ratio: value 0.052 against threshold 0.01 (n=412, p=0.0003)"


def rollback(name: str = "checkout", **changes: Any) -> Rollback:
    values: dict[str, Any] = {
        "namespace": "shop",
        "name": name,
        "path": SPEC_PATH,
        "failed_version": "v3",
        "stable_version": "v2",
        "revision": "v3@4f1c2a9e0b7d",
        "outcome": "RolledBack",
        "reason": "rolled back: istio-error-ratio: canary error ratio above threshold",
        "failed_checks": (CHECK,),
        "evidence": EVIDENCE,
        "at": 1_700_000_000.0,
    }
    values.update(changes)
    return Rollback(**values)


@pytest.fixture
def origin(remote: Remote) -> Remote:
    """The remote with the shop specs on main; it refuses non-fast-forwards, logs every update."""
    run_git("config", "receive.denyNonFastForwards", "true", cwd=remote.bare)
    run_git("config", "core.logAllRefUpdates", "always", cwd=remote.bare)
    remote.commit("shop: roll out v3", {SPEC_PATH: SPECS, "README.md": "# specs\n"})
    remote.push()
    return remote


@pytest.fixture
def writer(origin: Remote, tmp_path: Path) -> Iterator[GitWriter]:
    made = GitWriter(
        origin.file_url, cache_dir=tmp_path / "cache", credentials=NO_CREDENTIALS, max_attempts=20
    )
    yield made
    made.close()


def test_revert_edits_only_the_version_line_and_names_the_evidence(
    origin: Remote, writer: GitWriter
) -> None:
    before = tip(origin)
    result = writer.write_back(rollback(), mode="revert")
    assert result.outcome is WriteOutcome.WRITTEN and result.attempts == 1
    assert result.commit == tip(origin)
    assert run_git("rev-parse", f"{result.commit}^", cwd=origin.bare) == before
    diff = run_git("diff", "--unified=0", before, result.commit, cwd=origin.bare)
    changed = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        '-  version: "v3"    # keep the quotes',
        '+  version: "v2"    # keep the quotes',
    ]
    assert run_git("diff", "--name-only", before, result.commit, cwd=origin.bare) == SPEC_PATH
    after = show(origin, result.commit, SPEC_PATH)
    assert after == SPECS.replace('"v3"', '"v2"', 1)  # cart, the ConfigMap, comments: untouched
    message = run_git("log", "-1", "--format=%B", result.commit, cwd=origin.bare)
    assert message.startswith("Revert shop/checkout to v2: v3 was rolled back")
    assert CHECK in message  # value against threshold, sample size and p-value
    assert "Rollout: shop/checkout" in message and "Rollout-Revision: v3@4f1c2a9e0b7d" in message
    identity = run_git("log", "-1", "--format=%an <%ae>|%cn <%ce>", result.commit, cwd=origin.bare)
    default = "rollout-controller <rollout-controller@users.noreply.local>"
    assert identity == f"{default}|{default}"
    assert assert_only_fast_forwards(origin) == 2


def test_a_second_document_of_the_file_is_reverted_alone(origin: Remote, writer: GitWriter) -> None:
    result = writer.write_back(rollback("cart", revision="v3@aaaabbbbcccc"), mode="revert")
    text = show(origin, result.commit or "", SPEC_PATH)
    assert text == SPECS.replace("  version: v3\n", "  version: v2\n")
    assert specedit.find_spec_version(text, name="checkout", namespace="shop") is not None
    location = specedit.find_spec_version(text, name="checkout", namespace="shop")
    assert location is not None and location.version == "v3"


def test_the_branch_keeps_every_commit_pushed_concurrently(
    origin: Remote, writer: GitWriter, tmp_path: Path
) -> None:
    results = []
    with ConcurrentPusher(origin, tmp_path) as pusher:
        pusher.wait_for(3)
        for number in range(8):  # status files of eight distinct rollbacks of cart
            cart = rollback("cart", revision=f"v3@{number:012d}")
            results.append(writer.write_back(cart, mode="statusFile"))
        results.append(writer.write_back(rollback(), mode="revert"))
        results.append(writer.write_back(rollback("cart", revision="v3@aaaabbbbcccc")))
        seen = len(pusher.pushed)
        pusher.wait_for(seen + 3)
    assert pusher.error is None
    assert all(result.outcome is WriteOutcome.WRITTEN for result in results)
    attempts = sum(result.attempts for result in results)
    slowest = max(result.seconds for result in results)
    print(
        f"{len(results)} write-backs: {attempts} attempts, slowest {slowest:.3f}s, "
        f"against {len(pusher.pushed)} concurrent pushes ({pusher.rejections} of theirs refused)"
    )
    final = tip(origin)
    for sha in [*pusher.pushed, *(result.commit for result in results)]:
        assert sha is not None and is_ancestor(origin, sha, final), f"{sha} was lost"
    text = show(origin, final, SPEC_PATH)
    assert text == SPECS.replace('"v3"', '"v2"', 1).replace("  version: v3\n", "  version: v2\n")
    assert len(commits_with_trailer(origin, "v3@4f1c2a9e0b7d")) == 1
    assert assert_only_fast_forwards(origin) == 1 + len(pusher.pushed) + len(results)


def test_a_push_that_lands_between_fetch_and_push_is_kept_and_the_edit_reapplied(
    origin: Remote, writer: GitWriter, tmp_path: Path
) -> None:
    writer.write_back(rollback("cart", revision="v3@aaaabbbbcccc"), mode="revert")
    other = tmp_path / "other"
    run_git("clone", "--quiet", str(origin.bare), str(other), cwd=tmp_path)
    marker = tmp_path / "hook-ran"
    hook = writer.cache_dir / "writeback.git" / "hooks" / "pre-push"
    # someone pushes right after the writer fetched, once: the writer's push must be refused
    hook.write_text(
        "#!/bin/sh\n"
        f'[ -e "{marker}" ] && exit 0\n'
        f'touch "{marker}"\n'
        "unset GIT_DIR GIT_INDEX_FILE GIT_WORK_TREE GIT_CONFIG_COUNT\n"
        f'cd "{other}" && git pull -q origin main && echo late > late.txt && git add late.txt'
        " && git -c user.name=Bob -c user.email=bob@example.test commit -qm 'late note'"
        " && git push -q origin HEAD:main\n"
    )
    hook.chmod(0o755)
    result = writer.write_back(rollback(), mode="revert")
    late = run_git("rev-parse", "HEAD", cwd=other)
    assert marker.exists()
    assert result.outcome is WriteOutcome.WRITTEN and result.attempts == 2
    assert run_git("rev-parse", f"{result.commit}^", cwd=origin.bare) == late
    assert tip(origin) == result.commit
    assert show(origin, "main", "late.txt") == "late\n"
    assert assert_only_fast_forwards(origin) == 4


def test_status_file_mode_writes_the_outcome_beside_the_spec(
    origin: Remote, writer: GitWriter
) -> None:
    before = tip(origin)
    result = writer.write_back(rollback(spec_commit=before), mode="statusFile")
    assert result.outcome is WriteOutcome.WRITTEN
    names = run_git("diff", "--name-only", before, result.commit or "", cwd=origin.bare)
    assert names == "rollouts/shop.status.yaml"
    assert show(origin, "main", SPEC_PATH) == SPECS

    status = yaml.safe_load(show(origin, "main", "rollouts/shop.status.yaml"))
    assert status["rollout"] == "shop/checkout"
    assert (status["version"], status["stableVersion"]) == ("v3", "v2")
    assert status["outcome"] == "RolledBack"
    assert status["failedChecks"] == [CHECK]
    assert status["evidence"][0]["value"] == 0.052
    assert status["evidence"][0]["p_value"] == 0.0003
    assert status["specCommit"] == before
    message = run_git("log", "-1", "--format=%B", "main", cwd=origin.bare)
    assert message.startswith("Record rollback of shop/checkout v3")
    assert f"Rollout-Failed-Commit: {before}" in message


def test_writing_twice_writes_once_even_from_a_fresh_cache(
    origin: Remote, writer: GitWriter, tmp_path: Path
) -> None:
    first = writer.write_back(rollback(), mode="statusFile")
    again = writer.write_back(rollback(), mode="statusFile")
    assert again.outcome is WriteOutcome.ALREADY_WRITTEN and again.commit == first.commit
    restarted = GitWriter(
        origin.file_url, cache_dir=tmp_path / "other-cache", credentials=NO_CREDENTIALS
    )
    try:
        third = restarted.write_back(rollback(), mode="revert")
    finally:
        restarted.close()
    assert third.outcome is WriteOutcome.ALREADY_WRITTEN and third.commit == first.commit
    assert commits_with_trailer(origin, "v3@4f1c2a9e0b7d") == [first.commit]
    assert tip(origin) == first.commit


@pytest.mark.parametrize("now_asks_for", ["v2", "v4"])
def test_a_spec_that_moved_on_is_left_alone(
    origin: Remote, writer: GitWriter, now_asks_for: str
) -> None:
    moved = SPECS.replace('"v3"', f'"{now_asks_for}"')
    origin.commit(f"checkout: {now_asks_for}", {SPEC_PATH: moved})
    origin.push()
    before = tip(origin)
    result = writer.write_back(rollback(), mode="revert")
    assert result.outcome is WriteOutcome.SUPERSEDED and result.commit is None
    assert f"spec asks for {now_asks_for}" in result.message
    assert tip(origin) == before
    origin.remove(SPEC_PATH)
    origin.commit("drop the specs")
    origin.push()
    gone = writer.write_back(rollback(), mode="statusFile")
    assert gone.outcome is WriteOutcome.SUPERSEDED and "no such spec" in gone.message


def test_a_write_back_branch_is_created_from_the_source_branch(
    origin: Remote, writer: GitWriter
) -> None:
    result = writer.write_back(rollback(), mode="revert", branch="rollbacks/checkout")
    assert result.branch == "rollbacks/checkout"
    assert tip(origin, "rollbacks/checkout") == result.commit
    assert run_git("rev-parse", f"{result.commit}^", cwd=origin.bare) == tip(origin)
    assert show(origin, "main", SPEC_PATH) == SPECS
    again = writer.write_back(rollback(), mode="revert", branch="rollbacks/checkout")
    assert again.outcome is WriteOutcome.ALREADY_WRITTEN


def test_a_custom_identity_signs_the_commit(origin: Remote, tmp_path: Path) -> None:
    writer = GitWriter(
        origin.file_url,
        cache_dir=tmp_path / "cache",
        credentials=NO_CREDENTIALS,
        identity=Identity("Deploy Bot", "deploy-bot@example.test"),
    )
    try:
        result = writer.write_back(rollback(), mode="revert")
    finally:
        writer.close()
    who = run_git("log", "-1", "--format=%an <%ae>|%cn <%ce>", result.commit or "", cwd=origin.bare)
    assert who == "Deploy Bot <deploy-bot@example.test>|Deploy Bot <deploy-bot@example.test>"


def test_an_http_token_pushes_and_never_reaches_disk_or_errors(
    origin: Remote, http_remote: SmartHttpServer, tmp_path: Path
) -> None:
    token = "tok-HTTP-7f3a9"
    url = http_remote.url("remote.git")
    writer = GitWriter(
        url,
        cache_dir=tmp_path / "cache",
        credentials=GitCredentials(token=token, username="deploy-bot"),
    )
    try:
        result = writer.write_back(rollback(), mode="revert")
    finally:
        writer.close()
    assert result.outcome is WriteOutcome.WRITTEN and tip(origin) == result.commit
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    wrong = GitWriter(
        f"http://deploy-bot:wrong-{token}@127.0.0.1:{http_remote.port}/remote.git",
        cache_dir=tmp_path / "cache-wrong",
    )
    try:
        with pytest.raises(SourceError) as refused:
            wrong.write_back(rollback(revision="v3@000000000000"), mode="revert")
    finally:
        wrong.close()
    assert token not in str(refused.value) and "deploy-bot:" not in str(refused.value)
    assert "cannot fetch" in str(refused.value)


@pytest.mark.parametrize(
    "text",
    ["spec: " + "[" * 5000 + "]" * 5000 + "\n", "spec: &loop [*loop]\n", "a: [1\n"],
    ids=["deep", "recursive", "broken"],
)
def test_a_hostile_spec_file_is_a_clear_error_for_the_version_edit(text: str) -> None:
    hostile = "apiVersion: canary.rollout.dev/v1alpha1\nkind: Rollout\n" + text
    try:
        location = specedit.find_spec_version(hostile, name="checkout", namespace="shop")
    except SourceError as error:
        assert str(error).startswith("the spec file is not valid YAML: ")
    else:
        assert location is None
