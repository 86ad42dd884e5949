"""Who may see and do what on the dashboard: sessions, and the two ways to sign in.

- :class:`OneTimeToken` (``rollout dashboard`` on a person's machine): the command prints a
  URL carrying a random token, as Jupyter does; the first request that presents it gets a
  session cookie and the token is spent. The session acts with the person's kubeconfig,
  so every read and action is what that kubeconfig may do.
- :class:`KubernetesSignIn` (``rollout run --dashboard``): the person pastes a bearer
  token (``kubectl create token``, an OIDC id-token); the API server's TokenReview says
  whose it is, and a SubjectAccessReview for that user decides each read (``get
  rollouts``) and action (``patch rollouts``) in the rollout's namespace, so Kubernetes
  RBAC decides. The token itself is never kept: only the user it names.

A session is a random id in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` when
served over HTTPS), kept in memory with an expiry, and carries the CSRF token that every
action must send back. The sessions are per process: a restart signs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "COOKIE_NAME",
    "AccessReview",
    "Gate",
    "KubernetesSignIn",
    "OneTimeToken",
    "Session",
    "Sessions",
    "Verb",
]

COOKIE_NAME = "rollout_dashboard"
SESSION_SECONDS = 8 * 3600
#: how long a SubjectAccessReview's answer is reused for one user, verb and namespace
DECISION_SECONDS = 10.0

Verb = Literal["get", "patch"]


@dataclass(frozen=True)
class Session:
    id: str
    user: str
    csrf: str
    expires: float
    #: what TokenReview said of the user (username, uid, groups, extra); empty for local
    identity: Mapping[str, Any] = field(default_factory=dict)


class Sessions:
    """Sessions in memory, by id; expired ones are dropped when met."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, user: str, identity: Mapping[str, Any] | None = None) -> Session:
        session = Session(
            id=secrets.token_urlsafe(32),
            user=user,
            csrf=secrets.token_urlsafe(32),
            expires=self._clock() + SESSION_SECONDS,
            identity=dict(identity or {}),
        )
        with self._lock:
            self._sessions[session.id] = session
        return session

    def find(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires <= self._clock():
                del self._sessions[session_id]
                return None
        return session

    def close(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


class AccessReview(Protocol):
    """The API server's answers (``rollout.kube.access_review`` asks them)."""

    def review_token(self, token: str) -> Mapping[str, Any] | None:
        """TokenReview: the user a bearer token belongs to, or None if it is not valid."""
        ...

    def allowed(self, identity: Mapping[str, Any], verb: str, namespace: str) -> bool:
        """SubjectAccessReview: may this user ``verb`` rollouts in ``namespace``."""
        ...


class Gate(Protocol):
    """How a dashboard lets people in and what it lets them do."""

    sessions: Sessions
    mode: Literal["local", "kubernetes"]

    def sign_in(self, credential: str) -> Session | None: ...

    def may(self, session: Session, verb: Verb, namespace: str) -> bool: ...


class OneTimeToken:
    """A single-use token printed by ``rollout dashboard``; the session acts as the user."""

    mode: Literal["local", "kubernetes"] = "local"

    def __init__(self, user: str, *, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(32)
        self.user = user
        self.sessions = Sessions()
        self._spent = False
        self._lock = threading.Lock()

    def sign_in(self, credential: str) -> Session | None:
        with self._lock:
            if self._spent or not hmac.compare_digest(credential.encode(), self.token.encode()):
                return None
            self._spent = True
        return self.sessions.open(self.user)

    def may(self, session: Session, verb: Verb, namespace: str) -> bool:
        return True  # the kubeconfig's own rights apply at the API server


class KubernetesSignIn:
    """Bearer tokens checked by TokenReview; each read and action by SubjectAccessReview."""

    mode: Literal["local", "kubernetes"] = "kubernetes"

    def __init__(self, review: AccessReview, *, clock: Callable[[], float] = time.monotonic):
        self.review = review
        self.sessions = Sessions()
        self._clock = clock
        self._decisions: dict[tuple[str, str, str], tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def sign_in(self, credential: str) -> Session | None:
        token = credential.strip()
        if not token:
            return None
        identity = self.review.review_token(token)
        if identity is None or not identity.get("username"):
            return None
        return self.sessions.open(str(identity["username"]), identity)

    def may(self, session: Session, verb: Verb, namespace: str) -> bool:
        key = (session.id, verb, namespace)
        now = self._clock()
        with self._lock:
            cached = self._decisions.get(key)
        if cached is not None and now - cached[1] < DECISION_SECONDS:
            return cached[0]
        allowed = self.review.allowed(session.identity, verb, namespace)
        with self._lock:
            self._decisions[key] = (allowed, now)
        return allowed
