"""Secrets and environment held in memory, for the alert tests: the test double at the
notifiers' secret-resolution seam (the controller reads Kubernetes Secrets instead)."""

from __future__ import annotations

from collections.abc import Mapping

from rollout.errors import NotifyConfigError
from rollout.notify.factory import EnvSecretResolver
from rollout.spec.alerts import UrlSource


class InMemorySecretResolver:
    """Secrets and environment held in memory.

    ``secrets`` maps ``(namespace, name)`` to the Secret's data (key to value).
    """

    def __init__(
        self,
        *,
        secrets: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._secrets = {key: dict(data) for key, data in (secrets or {}).items()}
        self._env = EnvSecretResolver(dict(environ or {}))

    def put(self, *, namespace: str, name: str, key: str, value: str) -> None:
        self._secrets.setdefault((namespace, name), {})[key] = value

    def resolve(self, source: UrlSource, *, namespace: str) -> str:
        ref = source.secret_ref
        if ref is None:
            return self._env.resolve(source, namespace=namespace)
        where = ref.namespace or namespace
        data = self._secrets.get((where, ref.name))
        if data is None:
            raise NotifyConfigError(f"Secret {where}/{ref.name} does not exist")
        if ref.key not in data:
            raise NotifyConfigError(f"Secret {where}/{ref.name} has no key {ref.key!r}")
        return data[ref.key]
