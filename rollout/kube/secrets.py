"""Alert URLs and signing keys from Kubernetes Secrets, for the notifiers.

Implements ``rollout.ports.SecretResolver`` with the cluster: a ``secretRef`` is read
from the Secret (in the rollout's namespace unless the reference names one), environment
variables and inline values are handed to the resolver given for them (the controller gives
``rollout.notify.factory.EnvSecretResolver``). Values are never
logged, and error messages name the Secret and key, never the value.
"""

from __future__ import annotations

import base64
import binascii

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from rollout.errors import NotifyConfigError
from rollout.kubeapi.client import REQUEST_TIMEOUT
from rollout.ports import SecretResolver
from rollout.spec.alerts import UrlSource


class KubeSecretResolver:
    """Reads ``secretRef`` URL sources from the cluster."""

    def __init__(self, api: k8s_client.ApiClient, *, env: SecretResolver) -> None:
        self._core = k8s_client.CoreV1Api(api)
        self._env = env

    def resolve(self, source: UrlSource, *, namespace: str) -> str:
        ref = source.secret_ref
        if ref is None:
            return self._env.resolve(source, namespace=namespace)
        where = ref.namespace or namespace
        try:
            secret = self._core.read_namespaced_secret(
                ref.name, where, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            reason = "does not exist" if error.status == 404 else f"cannot be read ({error.status})"
            raise NotifyConfigError(f"Secret {where}/{ref.name} {reason}") from None
        except Exception as error:  # urllib3 connection errors: the cluster is unreachable
            raise NotifyConfigError(
                f"Secret {where}/{ref.name} cannot be read: {type(error).__name__}"
            ) from None
        data = secret.data or {}
        if ref.key in data:
            try:
                return base64.b64decode(data[ref.key]).decode("utf-8").strip()
            except (binascii.Error, UnicodeDecodeError):
                raise NotifyConfigError(
                    f"Secret {where}/{ref.name} key {ref.key!r} is not valid base64 text"
                ) from None
        string_data = secret.string_data or {}
        if ref.key in string_data:
            return str(string_data[ref.key]).strip()
        raise NotifyConfigError(f"Secret {where}/{ref.name} has no key {ref.key!r}")
