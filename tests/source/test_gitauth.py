"""The credential plumbing of the Git source: URLs split from their userinfo, texts scrubbed
of secrets, the SSH command line, and the environment handed to a networked git command."""

from __future__ import annotations

from pathlib import Path

from rollout.source.gitauth import (
    GitCredentials,
    RemoteAccess,
    scrub,
    ssh_command,
    strip_credentials,
)


def test_scrub_removes_userinfo_and_known_secrets_and_keeps_one_line() -> None:
    text = "fatal: https://bot:s3cr%2Ft@host/x.git\nretry ssh://me:pw@h/y and s3cr/t"
    expected = "fatal: https://host/x.git retry ssh://h/y and ***"
    assert scrub(text, ["s3cr/t", "s3cr%2Ft"]) == expected


def test_strip_credentials_keeps_ssh_logins_but_no_http_userinfo() -> None:
    clean = ("https://h:8443/r.git", "u", "p@ss")
    assert strip_credentials("https://u:p%40ss@h:8443/r.git") == clean
    assert strip_credentials("ssh://git:pw@h/r.git") == ("ssh://git@h/r.git", "git", "pw")
    assert strip_credentials("git@github.com:org/r.git") == ("git@github.com:org/r.git", None, None)


def test_ssh_command_pins_the_key_and_the_known_hosts_file() -> None:
    credentials = GitCredentials(ssh_key="/keys/deploy key", known_hosts="/etc/rollout/known")
    assert ssh_command(credentials, connect_timeout=7) == (
        "ssh -i '/keys/deploy key' -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new"
        " -o BatchMode=yes -o UserKnownHostsFile=/etc/rollout/known -o ConnectTimeout=7"
    )
    assert "token" not in repr(GitCredentials(token="token"))


def test_a_url_token_is_moved_from_the_url_into_the_askpass_environment(tmp_path: Path) -> None:
    access = RemoteAccess.resolve("https://bot:p%2Fw@git.example/r.git", GitCredentials())
    assert (access.fetch_url, access.display_url) == ("https://git.example/r.git",) * 2
    env = access.environment(askpass=tmp_path / "askpass.sh", timeout=30)
    assert env["GIT_ASKPASS"] == str(tmp_path / "askpass.sh")
    assert env["ROLLOUT_GIT_ASKPASS_USERNAME"] == "bot"
    assert env["ROLLOUT_GIT_ASKPASS_PASSWORD"] == "p/w"
    assert (env["GIT_TERMINAL_PROMPT"], env["GIT_CONFIG_KEY_0"]) == ("0", "credential.helper")
    assert access.scrub("denied for p/w and p%2Fw") == "denied for *** and ***"
    assert "p/w" not in repr(access)


def test_an_environment_token_wins_and_no_token_means_no_askpass(tmp_path: Path) -> None:
    environ = {"ROLLOUT_GIT_TOKEN": "env-token", "ROLLOUT_GIT_USERNAME": "ci"}
    access = RemoteAccess.resolve("https://u:url-token@h/r.git", GitCredentials.from_env(environ))
    env = access.environment(askpass=tmp_path / "a", timeout=5)
    assert (env["ROLLOUT_GIT_ASKPASS_USERNAME"], env["ROLLOUT_GIT_ASKPASS_PASSWORD"]) == (
        "ci",
        "env-token",
    )
    assert access.scrub("url-token env-token") == "*** ***"

    anonymous = RemoteAccess.resolve("https://h/r.git", GitCredentials()).environment(
        askpass=tmp_path / "a", timeout=5
    )
    assert anonymous["GIT_ASKPASS"] == ""
    assert "ROLLOUT_GIT_ASKPASS_PASSWORD" not in anonymous
