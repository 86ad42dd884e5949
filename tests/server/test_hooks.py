"""Webhook verification and parsing, without HTTP.

Inputs: raw bodies and headers as GitHub, GitLab and Flux's generic-hmac Provider send
them, signed with the shared secret, with a wrong secret, tampered or unsigned. Outputs:
the :class:`PushEvent` read (provider, event, whether to sync, branch, commit) or the
:class:`WebhookRejected` status (400, 401, 411, 413).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from rollout.server import hooks
from rollout.server.hooks import PushEvent, WebhookRejected

SECRET = "hook-secret"
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"
GITHUB_PUSH = json.dumps(
    {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": COMMIT,
        "repository": {"full_name": "team/rollouts"},
        "pusher": {"name": "dev"},
    }
).encode()
GITLAB_PUSH = json.dumps(
    {
        "object_kind": "push",
        "event_name": "push",
        "ref": "refs/heads/release",
        "before": "1" * 40,
        "after": "2" * 40,
        "checkout_sha": COMMIT,
    }
).encode()
FLUX_EVENT = json.dumps(
    {
        "involvedObject": {"kind": "GitRepository", "name": "rollouts", "namespace": "flux"},
        "severity": "info",
        "reason": "NewArtifact",
        "message": "stored artifact for commit 'bump checkout to v2'",
        "metadata": {"source.toolkit.fluxcd.io/revision": f"main@sha1:{COMMIT}"},
        "reportingController": "source-controller",
        "timestamp": "2024-05-01T12:00:00Z",
    }
).encode()


def github_headers(body: bytes, *, secret: str = SECRET, event: str = "push") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": event}


# -- GitHub -----------------------------------------------------------------------------


def test_github_push_with_a_good_signature_names_branch_and_commit() -> None:
    event = hooks.read_git_push(github_headers(GITHUB_PUSH), GITHUB_PUSH, secret=SECRET)
    assert event == PushEvent(
        provider="github",
        event="push",
        sync=True,
        branch="main",
        commit=COMMIT,
        ref="refs/heads/main",
    )


def test_github_signature_matches_sign_body() -> None:
    assert github_headers(GITHUB_PUSH)["X-Hub-Signature-256"] == hooks.sign_body(
        GITHUB_PUSH, SECRET
    )


def test_header_names_are_case_insensitive() -> None:
    headers = {key.lower(): value for key, value in github_headers(GITHUB_PUSH).items()}
    assert hooks.read_git_push(headers, GITHUB_PUSH, secret=SECRET).commit == COMMIT


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(github_headers(GITHUB_PUSH, secret="other"), id="wrong-secret"),
        pytest.param(github_headers(GITHUB_PUSH + b" "), id="signature-of-other-body"),
        pytest.param({"X-Hub-Signature-256": "sha256=", "X-GitHub-Event": "push"}, id="empty"),
        pytest.param({"X-Hub-Signature-256": "deadbeef"}, id="no-function"),
        pytest.param(
            {"X-Hub-Signature-256": hooks.sign_body(GITHUB_PUSH, SECRET, function="sha512")},
            id="sha512-is-not-github",
        ),
        pytest.param({"X-GitHub-Event": "push"}, id="unsigned"),
    ],
)
def test_github_bad_or_missing_signature_is_401(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        hooks.read_git_push(headers, GITHUB_PUSH, secret=SECRET)
    assert rejected.value.status == 401
    assert SECRET not in str(rejected.value)


def test_signature_is_checked_before_the_body_is_parsed() -> None:
    body = b"not json at all"
    with pytest.raises(WebhookRejected) as rejected:
        hooks.read_git_push(github_headers(body, secret="wrong"), body, secret=SECRET)
    assert rejected.value.status == 401
    with pytest.raises(WebhookRejected) as rejected:
        hooks.read_git_push(github_headers(body), body, secret=SECRET)
    assert rejected.value.status == 400


def test_github_ping_and_other_events_ask_for_no_sync() -> None:
    ping = json.dumps({"zen": "Design for failure.", "hook_id": 1}).encode()
    event = hooks.read_git_push(github_headers(ping, event="ping"), ping, secret=SECRET)
    assert (event.event, event.sync) == ("ping", False)
    issue = json.dumps({"action": "opened"}).encode()
    event = hooks.read_git_push(github_headers(issue, event="issues"), issue, secret=SECRET)
    assert (event.event, event.sync) == ("issues", False)


def test_github_tag_push_and_branch_deletion() -> None:
    tag = json.dumps({"ref": "refs/tags/v2.0.0", "after": COMMIT}).encode()
    event = hooks.read_git_push(github_headers(tag), tag, secret=SECRET)
    assert (event.sync, event.branch, event.commit, event.ref) == (
        True,
        None,
        COMMIT,
        "refs/tags/v2.0.0",
    )
    deleted = json.dumps({"ref": "refs/heads/feature", "after": "0" * 40, "deleted": True})
    event = hooks.read_git_push(github_headers(deleted.encode()), deleted.encode(), secret=SECRET)
    assert (event.branch, event.commit) == ("feature", None)


# -- GitLab -----------------------------------------------------------------------------


def test_gitlab_push_with_the_right_token() -> None:
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"}
    event = hooks.read_git_push(headers, GITLAB_PUSH, secret=SECRET)
    assert (event.provider, event.sync, event.branch, event.commit) == (
        "gitlab",
        True,
        "release",
        COMMIT,
    )


def test_gitlab_falls_back_to_after_without_checkout_sha() -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": COMMIT, "checkout_sha": None}).encode()
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"}
    assert hooks.read_git_push(headers, body, secret=SECRET).commit == COMMIT


@pytest.mark.parametrize("token", ["wrong", "", SECRET + "x", SECRET[:-1]])
def test_gitlab_wrong_token_is_401(token: str) -> None:
    headers = {"X-Gitlab-Token": token, "X-Gitlab-Event": "Push Hook"}
    with pytest.raises(WebhookRejected) as rejected:
        hooks.read_git_push(headers, GITLAB_PUSH, secret=SECRET)
    assert rejected.value.status == 401


def test_gitlab_non_push_events_ask_for_no_sync() -> None:
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Merge Request Hook"}
    event = hooks.read_git_push(headers, b'{"object_kind": "merge_request"}', secret=SECRET)
    assert event.sync is False
    system = json.dumps({"event_name": "project_create"}).encode()
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "System Hook"}
    assert hooks.read_git_push(headers, system, secret=SECRET).sync is False


# -- Flux generic-hmac ------------------------------------------------------------------


@pytest.mark.parametrize("function", ["sha256", "sha384", "sha512", "sha224"])
def test_flux_generic_hmac_event_names_branch_and_commit(function: str) -> None:
    headers = {"X-Signature": hooks.sign_body(FLUX_EVENT, SECRET, function=function)}
    event = hooks.read_flux_event(headers, FLUX_EVENT, secret=SECRET)
    assert (event.provider, event.event, event.sync, event.branch, event.commit) == (
        "flux",
        "NewArtifact",
        True,
        "main",
        COMMIT,
    )


def test_flux_signature_is_the_documented_format() -> None:
    expected = hmac.new(SECRET.encode(), FLUX_EVENT, hashlib.sha256).hexdigest()
    assert hooks.sign_body(FLUX_EVENT, SECRET) == f"sha256={expected}"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="unsigned"),
        pytest.param({"X-Signature": hooks.sign_body(FLUX_EVENT, "nope")}, id="wrong-secret"),
        pytest.param(
            {"X-Signature": "sha1=" + hmac.new(SECRET.encode(), FLUX_EVENT, "sha1").hexdigest()},
            id="sha1-refused",
        ),
        pytest.param({"X-Hub-Signature-256": hooks.sign_body(FLUX_EVENT, SECRET)}, id="github"),
    ],
)
def test_flux_bad_or_missing_signature_is_401(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        hooks.read_flux_event(headers, FLUX_EVENT, secret=SECRET)
    assert rejected.value.status == 401


@pytest.mark.parametrize(
    ("revision", "branch", "commit"),
    [
        (f"main@sha1:{COMMIT}", "main", COMMIT),
        (f"refs/heads/prod@sha1:{COMMIT}", "prod", COMMIT),
        (f"main/{COMMIT}", "main", COMMIT),
        (f"sha1:{COMMIT}", None, COMMIT),
        ("main@sha1:not-a-commit", "main", None),
    ],
)
def test_flux_revision_formats(revision: str, branch: str | None, commit: str | None) -> None:
    body = json.dumps({"reason": "NewArtifact", "metadata": {"revision": revision}}).encode()
    event = hooks.read_flux_event(
        {"X-Signature": hooks.sign_body(body, SECRET)}, body, secret=SECRET
    )
    assert (event.branch, event.commit) == (branch, commit)


def test_flux_event_without_revision_still_syncs() -> None:
    body = b'{"reason": "ReconciliationSucceeded", "metadata": {}}'
    event = hooks.read_flux_event(
        {"X-Signature": hooks.sign_body(body, SECRET)}, body, secret=SECRET
    )
    assert (event.sync, event.branch, event.commit) == (True, None, None)


# -- limits and configuration -----------------------------------------------------------


def test_content_length_checks() -> None:
    assert hooks.check_content_length("512", limit=1024) == 512
    assert hooks.check_content_length("1024", limit=1024) == 1024
    for value, status in [(None, 411), ("1025", 413), ("-1", 400), ("ten", 400), ("", 400)]:
        with pytest.raises(WebhookRejected) as rejected:
            hooks.check_content_length(value, limit=1024)
        assert rejected.value.status == status, value


def test_default_cap_is_one_mebibyte() -> None:
    assert hooks.DEFAULT_MAX_BODY_BYTES == 1024 * 1024
    with pytest.raises(WebhookRejected):
        hooks.check_content_length(str(1024 * 1024 + 1))


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        hooks.read_git_push({"X-Gitlab-Token": ""}, GITLAB_PUSH, secret="")
    with pytest.raises(ValueError):
        hooks.read_flux_event({"X-Signature": "sha256="}, FLUX_EVENT, secret="")


def test_non_object_json_is_400() -> None:
    body = b"[1, 2, 3]"
    with pytest.raises(WebhookRejected) as rejected:
        hooks.read_git_push(github_headers(body), body, secret=SECRET)
    assert rejected.value.status == 400
