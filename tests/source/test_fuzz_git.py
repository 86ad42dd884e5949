"""The fuzzer against the Git source: generated commits of hostile spec files
(``tests.spec.hostile``), symbolic links out of the repository, files over the size limit
and force-pushes that rewrite history, each synced and read as the controller does.

Every sync must succeed at the pushed commit, never raise or hang (Hypothesis' deadline);
the valid spec committed first must always be read; every hostile file must be either read
or listed as unreadable with a reason; and the linked file's marker must appear nowhere.
Slow tier: 200 cases, each a real commit, push and sync (about half a minute).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollout.source.files import read_catalog
from rollout.source.git import GitCredentials, GitSource
from tests.source.git_servers import Remote, run_git
from tests.spec.hostile import ANCHOR_KEY, ANCHOR_SPEC, hostile_files

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CASES = 200
MAX_FILE_BYTES = 64 * 1024
MARKER = "MARKER-fuzz-91d2e6-never-read"


class World:
    """A remote with the valid spec as its first commit, a source synced from it, and a
    file outside the repository that links may point at."""

    def __init__(self, root: Path) -> None:
        self.remote = Remote(root / "remote")
        self.outside = root / "outside.yaml"
        self.outside.write_text(f"kind: Rollout\nmarker: {MARKER}\n")
        self.first = self.remote.commit("The valid spec", {"specs/anchor.yaml": ANCHOR_SPEC})
        self.remote.push()
        self.source = GitSource(
            self.remote.file_url,
            cache_dir=root / "cache",
            credentials=GitCredentials(),
            network_timeout=20.0,
            max_file_bytes=MAX_FILE_BYTES,
        )

    def commit(self, files: dict[str, bytes], links: list[str], *, rewrite: bool) -> str:
        if rewrite:
            run_git("reset", "--quiet", "--hard", self.first, cwd=self.remote.work)
        else:
            run_git("rm", "-r", "--quiet", "--ignore-unmatch", "specs/case", cwd=self.remote.work)
        case = self.remote.work / "specs" / "case"
        case.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (case / name).write_bytes(data)
        for index, target in enumerate(links):
            (case / f"link-{index}.yaml").symlink_to(target)
        sha = self.remote.commit("A case")
        self.remote.push(force=rewrite)
        return sha


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = World(tmp_path_factory.mktemp("fuzz-git"))
    yield built
    built.source.close()


def link_targets(outside: Path) -> st.SearchStrategy[list[str]]:
    return st.lists(
        st.sampled_from(
            [
                str(outside),
                "../../../outside.yaml",
                "/var/run/secrets/kubernetes.io/serviceaccount/token",
                "/etc/passwd",
                "../anchor.yaml",
            ]
        ),
        max_size=2,
    )


@settings(
    max_examples=CASES,
    deadline=datetime.timedelta(seconds=20),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_the_git_source_reads_what_it_can_and_reports_the_rest(
    world: World, data: st.DataObject
) -> None:
    hostile = data.draw(st.lists(hostile_files(), min_size=1, max_size=3), label="files")
    files = {f"hostile-{index}.yaml": content for index, content in enumerate(hostile)}
    if data.draw(st.booleans(), label="too large"):
        files["large.yaml"] = b"# padding\n" * (MAX_FILE_BYTES // 10 + 1)
    links = data.draw(link_targets(world.outside), label="links")
    rewrite = data.draw(st.booleans(), label="force-push")

    sha = world.commit(files, links, rewrite=rewrite)
    snapshot = world.source.sync()
    loaded = read_catalog(snapshot.files, commit=snapshot.sha, unreadable=snapshot.unreadable)

    assert snapshot.sha == sha
    assert ANCHOR_KEY in loaded.rollouts
    names = [f"specs/case/{name}" for name in files]
    names += [f"specs/case/link-{index}.yaml" for index in range(len(links))]
    for name in names:
        assert (name in snapshot.files) != (name in snapshot.unreadable)
    assert all(f"specs/case/link-{i}.yaml" in snapshot.unreadable for i in range(len(links)))
    if "large.yaml" in files:
        assert snapshot.unreadable["specs/case/large.yaml"].endswith(
            f"over the limit of {MAX_FILE_BYTES}"
        )
    seen = [*snapshot.files.values(), *snapshot.unreadable.values()]
    seen += [str(problem) for problem in loaded.problems]
    assert not [text for text in seen if MARKER in text]
