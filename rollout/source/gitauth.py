"""How credentials reach git without ever touching disk, a log line or an error message.

A token travels only in the environment of the git process that needs it, answered by a
small askpass helper that reads it from there (the helper file holds no secret); an SSH key
is named in ``GIT_SSH_COMMAND``. The URL that git stores in the cache has no userinfo, and
every text that leaves the Git source goes through ``scrub`` first.

This module does not import gitpython: it only builds strings and environments.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from rollout.errors import SourceError

__all__ = [
    "BRANCH_NAME",
    "GitCredentials",
    "RemoteAccess",
    "remote_access",
    "scrub",
    "ssh_command",
    "strip_credentials",
    "write_askpass",
]

TOKEN_ENV = "ROLLOUT_GIT_TOKEN"
USERNAME_ENV = "ROLLOUT_GIT_USERNAME"
SSH_KEY_ENV = "ROLLOUT_GIT_SSH_KEY"
KNOWN_HOSTS_ENV = "ROLLOUT_GIT_KNOWN_HOSTS"
DEFAULT_TOKEN_USERNAME = "x-access-token"

_ASKPASS_USERNAME_ENV = "ROLLOUT_GIT_ASKPASS_USERNAME"
_ASKPASS_PASSWORD_ENV = "ROLLOUT_GIT_ASKPASS_PASSWORD"
_ASKPASS_SCRIPT = f"""#!/bin/sh
# Answers git's credential prompts from this process's environment; holds no secret itself.
case "$1" in
  [Uu]sername*) printf '%s\\n' "${_ASKPASS_USERNAME_ENV}" ;;
  *) printf '%s\\n' "${_ASKPASS_PASSWORD_ENV}" ;;
esac
"""
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_WITHOUT_USERINFO = {"http", "https", "ftp", "ftps"}


@dataclasses.dataclass(frozen=True)
class GitCredentials:
    """How to authenticate: an https token, or an SSH key; the token is never printed."""

    token: str | None = dataclasses.field(default=None, repr=False)
    username: str | None = None
    ssh_key: str | None = None
    known_hosts: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GitCredentials:
        """Read ``ROLLOUT_GIT_TOKEN``, ``_USERNAME``, ``_SSH_KEY`` and ``_KNOWN_HOSTS``."""
        env = os.environ if environ is None else environ
        return cls(
            token=env.get(TOKEN_ENV) or None,
            username=env.get(USERNAME_ENV) or None,
            ssh_key=env.get(SSH_KEY_ENV) or None,
            known_hosts=env.get(KNOWN_HOSTS_ENV) or None,
        )


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """One line with every URL userinfo and every known secret value removed."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_USERINFO.sub(r"\1", text)
    return " ".join(text.split())


def strip_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Split ``url`` into the URL git may store, the username and the password in it.

    HTTP(S) URLs lose their whole userinfo (it travels through the askpass helper instead);
    other URLs (``ssh://git@host/...``) keep the login name, which is no secret, and lose
    any password.
    """
    parts = urlsplit(url)
    if "://" not in url or parts.hostname is None or (not parts.username and not parts.password):
        return url, None, None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.scheme.lower() not in _WITHOUT_USERINFO and username:
        host = f"{quote(username, safe='')}@{host}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, username, password


def ssh_command(credentials: GitCredentials, *, connect_timeout: float) -> str:
    """The ``GIT_SSH_COMMAND`` for these credentials: non-interactive, key-only when given."""
    words = ["ssh"]
    if credentials.ssh_key:
        words += ["-i", credentials.ssh_key, "-o", "IdentitiesOnly=yes"]
    words += ["-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes"]
    if credentials.known_hosts:
        words += ["-o", f"UserKnownHostsFile={credentials.known_hosts}"]
    words += ["-o", f"ConnectTimeout={max(1, round(connect_timeout))}"]
    return " ".join(shlex.quote(word) for word in words)


def write_askpass(path: Path) -> None:
    """Put the askpass helper at ``path`` (owner-only); it contains no secret."""
    if path.is_file() and path.read_text() == _ASKPASS_SCRIPT:
        return
    path.write_text(_ASKPASS_SCRIPT)
    path.chmod(0o700)


@dataclasses.dataclass(frozen=True)
class RemoteAccess:
    """One remote's URL with its credentials taken out, and how to hand them back to git."""

    fetch_url: str
    display_url: str
    credentials: GitCredentials
    username: str
    password: str | None = dataclasses.field(repr=False)
    secrets: tuple[str, ...] = dataclasses.field(repr=False)

    @classmethod
    def resolve(cls, url: str, credentials: GitCredentials) -> RemoteAccess:
        """Take credentials out of ``url``; a token in ``credentials`` wins over the URL's."""
        fetch_url, url_username, url_password = strip_credentials(url)
        secrets = tuple(
            form
            for value in (credentials.token, url_password)
            if value
            for form in sorted({value, quote(value, safe="")})
        )
        return cls(
            fetch_url=fetch_url,
            display_url=scrub(fetch_url, secrets),
            credentials=credentials,
            username=credentials.username or url_username or DEFAULT_TOKEN_USERNAME,
            password=credentials.token or url_password,
            secrets=secrets,
        )

    def scrub(self, text: str) -> str:
        """``text`` on one line, without this remote's secrets or any URL userinfo."""
        return scrub(text, self.secrets)

    def environment(self, *, askpass: Path, timeout: float) -> dict[str, str]:
        """Extra environment for one networked git command: no prompts, bounded stalls."""
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_HTTP_LOW_SPEED_LIMIT": "1",
            "GIT_HTTP_LOW_SPEED_TIME": str(max(1, round(timeout))),
            "GIT_SSH_COMMAND": ssh_command(self.credentials, connect_timeout=timeout),
            # no credential helper may store what the askpass helper answers
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "credential.helper",
            "GIT_CONFIG_VALUE_0": "",
        }
        if self.password:
            env["GIT_ASKPASS"] = str(askpass)
            env[_ASKPASS_USERNAME_ENV] = self.username
            env[_ASKPASS_PASSWORD_ENV] = self.password
        return env


BRANCH_NAME = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]+(?<![./])$")
"""A branch name git accepts and that cannot smuggle an option or a path escape."""


def remote_access(url: str, credentials: GitCredentials | None, branch: str) -> RemoteAccess:
    """How to reach ``url`` (credentials from the environment unless given), once the branch
    name is known to be safe to hand to git."""
    if not BRANCH_NAME.match(branch):
        raise SourceError(f"invalid branch name {branch!r}")
    return RemoteAccess.resolve(
        url, GitCredentials.from_env() if credentials is None else credentials
    )
