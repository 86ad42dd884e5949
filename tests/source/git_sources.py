"""What the GitSource tests share: a factory type for sources closed after the test, the
credentials they use, and a seeded repository layout to sync.

The ``make_source`` fixture itself is in ``conftest.py``; test modules import the type and
``seed`` from here.
"""

from __future__ import annotations

from collections.abc import Callable

from rollout.source.git import GitCredentials, GitSource
from tests.source.git_servers import Remote

NO_CREDENTIALS = GitCredentials()
TWO_DOCUMENTS = "kind: Rollout\nmetadata: {name: a}\n---\n# second\nkind: Rollout\n"

MakeSource = Callable[..., GitSource]


def seed(remote: Remote) -> str:
    sha = remote.commit(
        "Add checkout and cart specs\n\nThe body is not part of the summary.",
        {
            "specs/checkout.yaml": "kind: Rollout\nmetadata:\n  name: checkout\n",
            "specs/team/cart.yml": TWO_DOCUMENTS,
            "specs/README.md": "# not a spec\n",
            "specs-old/legacy.yaml": "kind: Rollout\n",
            "specs.yaml": "kind: Rollout\n",
        },
    )
    remote.push()
    return sha
