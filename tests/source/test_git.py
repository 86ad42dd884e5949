"""GitSource against real repositories: a bare remote served over file://, a local path,
``git daemon`` (git://) and ``git http-backend`` behind basic auth (http://).

Inputs are commits and pushes (new files, edits, deletions, force-pushes of unrelated
history), remotes that vanish and come back, and caches damaged on disk; outputs are the
snapshots ``sync()`` returns, the errors it raises and the status it reports.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import logging
import shutil
import socket
import time
from pathlib import Path

import pytest

from rollout.errors import SourceError
from rollout.source.git import GitCredentials, GitSource
from tests.source.git_servers import GitDaemon, Remote, SmartHttpServer, run_git
from tests.source.git_sources import TWO_DOCUMENTS, MakeSource, seed


def test_first_sync_reads_every_yaml_file_under_the_path_at_one_commit(
    remote: Remote, make_source: MakeSource
) -> None:
    sha = seed(remote)
    source = make_source(remote.file_url, path="specs")
    before = datetime.datetime.now(datetime.UTC)

    snapshot = source.sync()

    assert snapshot.sha == sha
    assert dict(snapshot.files) == {
        "specs/checkout.yaml": "kind: Rollout\nmetadata:\n  name: checkout\n",
        "specs/team/cart.yml": TWO_DOCUMENTS,
    }
    assert snapshot.commit.author == "Ada Author <ada@example.com>"
    assert snapshot.commit.summary == "Add checkout and cart specs"
    assert abs(snapshot.commit.committed_at - before) < datetime.timedelta(minutes=1)
    assert {path: c.sha for path, c in snapshot.file_commits.items()} == {
        "specs/checkout.yaml": sha,
        "specs/team/cart.yml": sha,
    }
    assert (snapshot.branch, snapshot.path, snapshot.source) == ("main", "specs", remote.file_url)
    status = source.status
    assert status.ready and status.healthy
    assert status.commit == sha and status.last_error is None
    assert status.last_success_at is not None and status.last_success_at >= before
    assert not list((source.cache_dir / "mirror.git").glob("index")), "no work tree, no index"


def test_whole_repository_from_a_plain_local_path(remote: Remote, make_source: MakeSource) -> None:
    seed(remote)
    source: GitSource = make_source(str(remote.bare))

    assert sorted(source.sync().files) == [
        "specs-old/legacy.yaml",
        "specs.yaml",
        "specs/checkout.yaml",
        "specs/team/cart.yml",
    ]


def test_new_commits_are_picked_up_and_an_unchanged_branch_costs_no_reread(
    remote: Remote, make_source: MakeSource
) -> None:
    first = seed(remote)
    source = make_source(remote.file_url, path="specs")
    initial = source.sync()
    assert source.sync() is initial

    second = remote.commit("Ship checkout v2", {"specs/checkout.yaml": "version: v2\n"})
    remote.push()
    updated = source.sync()

    assert updated.sha == second
    assert updated.files["specs/checkout.yaml"] == "version: v2\n"
    assert updated.files["specs/team/cart.yml"] == TWO_DOCUMENTS
    assert updated.file_commits["specs/checkout.yaml"].sha == second
    assert updated.file_commits["specs/team/cart.yml"].sha == first
    assert updated.file_commits["specs/checkout.yaml"].summary == "Ship checkout v2"


def test_concurrent_syncs_share_one_cache_safely(remote: Remote, make_source: MakeSource) -> None:
    sha = seed(remote)
    source = make_source(remote.file_url, path="specs")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        snapshots = list(pool.map(lambda _: source.sync(), range(8)))
    assert {snapshot.sha for snapshot in snapshots} == {sha}
    assert all(snapshot is snapshots[0] for snapshot in snapshots)


def test_a_deleted_spec_file_disappears_from_the_snapshot(
    remote: Remote, make_source: MakeSource
) -> None:
    seed(remote)
    source = make_source(remote.file_url, path="specs")
    source.sync()

    remote.remove("specs/team/cart.yml")
    sha = remote.commit("Retire cart")
    remote.push()

    snapshot = source.sync()
    assert snapshot.sha == sha
    assert list(snapshot.files) == ["specs/checkout.yaml"]
    assert list(snapshot.file_commits) == ["specs/checkout.yaml"]


def test_a_force_push_of_unrelated_history_is_taken_over_git_daemon(
    remote: Remote, git_daemon: GitDaemon, make_source: MakeSource
) -> None:
    seed(remote)
    source = make_source(git_daemon.url("remote.git"), path="specs")
    source.sync()

    remote.start_unrelated_history()
    rewritten = remote.commit("Start over", {"specs/fresh.yaml": "kind: Rollout\n"})
    remote.push(force=True)

    snapshot = source.sync()
    assert snapshot.sha == rewritten
    assert dict(snapshot.files) == {"specs/fresh.yaml": "kind: Rollout\n"}
    assert snapshot.file_commits["specs/fresh.yaml"].sha == rewritten
    assert run_git("log", "--format=%H", rewritten, cwd=remote.work) == rewritten


def test_pushes_through_git_daemon_are_seen(
    remote: Remote, git_daemon: GitDaemon, make_source: MakeSource
) -> None:
    seed(remote)
    run_git("remote", "set-url", "origin", git_daemon.url("remote.git"), cwd=remote.work)
    source = make_source(git_daemon.url("remote.git"), path="specs")
    source.sync()

    sha = remote.commit("Over the wire", {"specs/wire.yaml": "kind: Rollout\n"})
    remote.push()

    assert source.sync().files["specs/wire.yaml"] == "kind: Rollout\n"
    assert source.status.commit == sha


def test_a_remote_that_disappears_keeps_the_last_good_commit_until_it_returns(
    remote: Remote, make_source: MakeSource
) -> None:
    good = seed(remote)
    source = make_source(remote.file_url, path="specs")
    kept = source.sync()
    moved = remote.bare.with_name("moved-away.git")
    remote.bare.rename(moved)

    for attempt in (1, 2):
        with pytest.raises(SourceError, match="cannot fetch branch 'main'") as raised:
            source.sync()
        assert "\n" not in str(raised.value)
        assert source.snapshot is kept
        assert source.status.commit == good
        assert source.status.consecutive_failures == attempt
        assert source.status.last_error == str(raised.value)
        assert source.status.ready and not source.status.healthy

    moved.rename(remote.bare)
    newer = remote.commit("Back again", {"specs/checkout.yaml": "version: v3\n"})
    remote.push()
    assert source.sync().sha == newer
    assert source.status.healthy and source.status.consecutive_failures == 0


def test_a_stopped_daemon_is_reported_then_recovered_from(
    remote: Remote, git_daemon: GitDaemon, make_source: MakeSource
) -> None:
    good = seed(remote)
    source = make_source(git_daemon.url("remote.git"), path="specs")
    source.sync()
    git_daemon.stop()

    with pytest.raises(SourceError, match=r"unable to connect to 127\.0\.0\.1"):
        source.sync()
    assert source.snapshot is not None and source.snapshot.sha == good
    assert source.status.last_error is not None and source.status.commit == good

    git_daemon.start()
    assert source.sync().sha == good
    assert source.status.last_error is None


def test_a_missing_branch_is_a_clear_error_and_a_deleted_one_keeps_the_last_good(
    remote: Remote, make_source: MakeSource, tmp_path: Path
) -> None:
    seed(remote)
    remote.push(branch="release")
    missing = make_source(remote.file_url, branch="nope", cache_dir=tmp_path / "other")
    with pytest.raises(SourceError) as raised:
        missing.sync()
    assert str(raised.value) == (
        f"branch 'nope' of {remote.file_url}: the branch does not exist on the remote"
    )
    assert not missing.status.ready

    release = make_source(remote.file_url, branch="release")
    kept = release.sync()
    run_git("push", "--quiet", "origin", "--delete", "release", cwd=remote.work)
    with pytest.raises(SourceError, match="does not exist on the remote"):
        release.sync()
    assert release.snapshot is kept


def test_a_blob_missing_from_the_cache_is_noticed_and_the_cache_cloned_again(
    remote: Remote, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    seed(remote)
    source = make_source(remote.file_url, path="specs")
    source.sync()
    blob = run_git("rev-parse", "HEAD:specs/team/cart.yml", cwd=remote.work)
    (source.cache_dir / "mirror.git" / "objects" / blob[:2] / blob[2:]).unlink()

    sha = remote.commit("After the damage", {"specs/checkout.yaml": "version: v4\n"})
    remote.push()
    with caplog.at_level(logging.WARNING, logger="rollout.source.git"):
        snapshot = source.sync()
    assert snapshot.sha == sha
    assert snapshot.files["specs/checkout.yaml"] == "version: v4\n"
    assert snapshot.files["specs/team/cart.yml"] == TWO_DOCUMENTS
    assert "is damaged; cloning again" in caplog.text
    assert source.status.healthy
    run_git("--git-dir", str(source.cache_dir / "mirror.git"), "fsck", cwd=source.cache_dir)


def test_a_cache_without_objects_found_at_start_is_cloned_again(
    remote: Remote, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    sha = seed(remote)
    first = make_source(remote.file_url, path="specs")
    first.sync()
    first.close()
    objects = first.cache_dir / "mirror.git" / "objects"
    for child in objects.iterdir():
        if child.name not in ("info", "pack"):
            shutil.rmtree(child)
    for pack in (objects / "pack").iterdir():
        pack.unlink()

    restarted = make_source(remote.file_url, path="specs")
    with caplog.at_level(logging.WARNING, logger="rollout.source.git"):
        snapshot = restarted.sync()
    assert "failed its check at start; cloning again" in caplog.text
    assert snapshot.sha == sha
    assert snapshot.files["specs/team/cart.yml"] == TWO_DOCUMENTS


def test_a_garbled_head_found_at_start_is_cloned_again(
    remote: Remote, make_source: MakeSource
) -> None:
    sha = seed(remote)
    first = make_source(remote.file_url, path="specs")
    first.sync()
    first.close()
    (first.cache_dir / "mirror.git" / "HEAD").write_text("garbage\x00\n")

    restarted = make_source(remote.file_url, path="specs")
    snapshot = restarted.sync()
    assert snapshot.sha == sha
    assert sorted(snapshot.files) == ["specs/checkout.yaml", "specs/team/cart.yml"]


def test_a_cache_cloned_from_another_url_is_replaced(
    remote: Remote, make_source: MakeSource, tmp_path: Path
) -> None:
    seed(remote)
    elsewhere = Remote(tmp_path / "elsewhere")
    other_sha = elsewhere.commit("Other", {"specs/other.yaml": "kind: Rollout\n"})
    elsewhere.push()
    make_source(remote.file_url).sync()

    snapshot = make_source(elsewhere.file_url).sync()
    assert snapshot.sha == other_sha
    assert list(snapshot.files) == ["specs/other.yaml"]


def test_a_token_in_the_url_never_shows_in_errors_status_logs_or_the_cache(
    make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_source("https://user:SECRET@127.0.0.1:1/repo.git")
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceError) as raised:
        source.sync()

    assert "https://127.0.0.1:1/repo.git" in str(raised.value)
    seen = [str(raised.value), repr(raised.value), str(source.status), repr(source), caplog.text]
    seen += [p.read_text(errors="replace") for p in source.cache_dir.rglob("*") if p.is_file()]
    assert not [text for text in seen if "SECRET" in text]
    chain: list[BaseException] = []
    link: BaseException | None = raised.value
    while link is not None:
        chain.append(link)
        link = link.__cause__ or link.__context__
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert not [error for error in chain if "SECRET" in f"{error} {error!r}"]


def test_an_http_token_from_the_environment_authenticates_and_is_not_stored(
    remote: Remote, http_remote: SmartHttpServer, make_source: MakeSource, tmp_path: Path
) -> None:
    sha = seed(remote)
    environ = {"ROLLOUT_GIT_TOKEN": "tok-HTTP-7f3a9", "ROLLOUT_GIT_USERNAME": "deploy-bot"}
    source = make_source(
        http_remote.url("remote.git"), path="specs", credentials=GitCredentials.from_env(environ)
    )

    assert source.sync().sha == sha
    assert http_remote.authorizations and set(http_remote.authorizations) == {http_remote.expected}
    stored = [p.read_text(errors="replace") for p in source.cache_dir.rglob("*") if p.is_file()]
    assert not [text for text in stored if "tok-HTTP-7f3a9" in text]

    in_url = make_source(
        f"http://deploy-bot:tok-HTTP-7f3a9@127.0.0.1:{http_remote.port}/remote.git",
        cache_dir=tmp_path / "in-url",
    )
    assert in_url.sync().sha == sha
    assert "tok-HTTP-7f3a9" not in (tmp_path / "in-url" / "mirror.git" / "config").read_text()

    wrong = make_source(
        http_remote.url("remote.git"),
        credentials=GitCredentials(token="tok-WRONG-0000", username="deploy-bot"),
        cache_dir=tmp_path / "wrong",
    )
    with pytest.raises(SourceError, match="Authentication failed") as raised:
        wrong.sync()
    assert "tok-WRONG-0000" not in str(raised.value) + str(wrong.status)


def test_a_remote_that_never_answers_is_cut_off_by_the_timeout(
    make_source: MakeSource,
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        source = make_source(f"git://127.0.0.1:{port}/remote.git", network_timeout=1.5)
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"fetch timed out after 1\.5s"):
            source.sync()
        assert time.monotonic() - started < 15


def test_an_unreachable_ssh_remote_fails_cleanly_with_the_key_configured(
    make_source: MakeSource, tmp_path: Path
) -> None:
    key = tmp_path / "id_test"
    key.write_text("not a real key\n")
    key.chmod(0o600)
    credentials = GitCredentials(ssh_key=str(key), known_hosts=str(tmp_path / "known_hosts"))
    source = make_source(
        "ssh://git@127.0.0.1:1/repo.git", credentials=credentials, network_timeout=10
    )
    with pytest.raises(SourceError) as raised:
        source.sync()
    assert str(raised.value).startswith(
        "cannot fetch branch 'main' of ssh://127.0.0.1:1/repo.git:"
        " ssh: connect to host 127.0.0.1 port 1: Connection refused;"
    )
