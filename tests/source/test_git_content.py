"""GitSource against hostile repository content: spec-named files that are not text, links
out of the repository, submodules and control characters in names, a force-push that drops
a hostile commit, and configuration refused before any fetch.

Inputs are commits to a real bare remote served over file://; outputs are the snapshots
``sync()`` returns (files, the unreadable ones with their reason), the logs, and the errors.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rollout.errors import SourceError
from tests.source.git_servers import Remote, run_git
from tests.source.git_sources import MakeSource, seed


def test_spec_named_files_that_cannot_be_read_as_text_are_skipped_with_a_reason(
    remote: Remote, make_source: MakeSource
) -> None:
    seed(remote)
    (remote.work / "specs" / "binary.yaml").write_bytes(b"\xff\xfe\x00kind")
    (remote.work / "specs" / "nul.yaml").write_bytes(b"kind: Rollout\n\x00\x00\n")
    (remote.work / "specs" / "link.yaml").symlink_to("checkout.yaml")
    remote.commit("Odd files", {"specs/big.yaml": "x: " + "y" * 2000 + "\n"})
    remote.push()
    source = make_source(remote.file_url, path="specs", max_file_bytes=1000)

    snapshot = source.sync()
    assert sorted(snapshot.files) == ["specs/checkout.yaml", "specs/team/cart.yml"]
    assert dict(snapshot.unreadable) == {
        "specs/big.yaml": "2004 bytes, over the limit of 1000",
        "specs/binary.yaml": "binary, not UTF-8 text",
        "specs/link.yaml": "a symbolic link: links are never followed",
        "specs/nul.yaml": "binary, not UTF-8 text",
    }
    assert source.skipped_files == snapshot.unreadable


def test_a_link_out_of_the_repository_is_never_read_nor_echoed(
    remote: Remote, make_source: MakeSource, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "outside" / "token"
    secret.parent.mkdir()
    secret.write_text("kind: Rollout\nmarker: SECRET-MARKER-7f3a\n")
    seed(remote)
    (remote.work / "specs" / "token.yaml").symlink_to(secret)
    (remote.work / "specs" / "sa.yaml").symlink_to(
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )
    (remote.work / "specs" / "up.yaml").symlink_to("../../outside/token")
    remote.commit("Links out")
    remote.push()
    source = make_source(remote.file_url, path="specs")

    with caplog.at_level(logging.DEBUG):
        snapshot = source.sync()

    assert {name: snapshot.unreadable[name] for name in snapshot.unreadable} == {
        name: "a symbolic link: links are never followed"
        for name in ("specs/sa.yaml", "specs/token.yaml", "specs/up.yaml")
    }
    seen = [*snapshot.files.values(), *snapshot.unreadable.values(), caplog.text]
    assert not any("SECRET-MARKER" in text for text in seen)


def test_submodules_and_control_characters_in_names_are_reported_not_read(
    remote: Remote, make_source: MakeSource
) -> None:
    sha = seed(remote)
    remote.write("specs/evil\nname\x1b[2J.yaml", "kind: Rollout\n")
    run_git("add", "--all", cwd=remote.work)
    run_git("update-index", "--add", "--cacheinfo", f"160000,{sha},specs/vendor", cwd=remote.work)
    run_git("commit", "--quiet", "-m", "Vendor specs", cwd=remote.work)
    remote.push()
    source = make_source(remote.file_url, path="specs")

    snapshot = source.sync()

    assert dict(snapshot.unreadable) == {
        "specs/vendor": "a submodule: its files are not read",
        "specs/evil\\u000aname\\u001b[2J.yaml": "a file name with control characters",
    }
    assert sorted(snapshot.files) == ["specs/checkout.yaml", "specs/team/cart.yml"]


def test_a_force_push_that_drops_a_hostile_commit_is_taken(
    remote: Remote, make_source: MakeSource
) -> None:
    good = seed(remote)
    source = make_source(remote.file_url, path="specs")
    remote.commit("Loop", {"specs/loop.yaml": "a: &a [*a]\n"})
    remote.push()
    assert "specs/loop.yaml" in source.sync().files

    run_git("reset", "--quiet", "--hard", good, cwd=remote.work)
    remote.push(force=True)

    snapshot = source.sync()
    assert snapshot.sha == good
    assert "specs/loop.yaml" not in snapshot.files


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"branch": "-upload-pack=evil"}, "invalid branch name"),
        ({"branch": "a..b"}, "invalid branch name"),
        ({"path": "../outside"}, "must be relative"),
        ({"path": "/etc"}, "must be relative"),
    ],
)
def test_bad_configuration_is_refused_up_front(
    make_source: MakeSource, options: dict[str, str], message: str
) -> None:
    with pytest.raises(SourceError, match=message):
        make_source("file:///nowhere.git", **options)
