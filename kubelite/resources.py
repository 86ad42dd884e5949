"""The resource table: which kinds the local API server serves, and how each behaves.

A :class:`ResourceType` holds what discovery, routing, storage and printing need to know
about one kind: group, served versions, plural, scope, short names, whether it has a
``status`` subresource (and a ``scale`` one, :mod:`.scale`), and whether it is a custom
resource (CRD-defined kinds take no strategic merge patch, return the object on delete and
demand a resourceVersion on update, as on a real server). Built-in kinds are one line each
in :data:`BUILTIN_RESOURCES`; custom kinds are added at run time by :class:`ResourceRegistry` when a
``CustomResourceDefinition`` is written (see :mod:`.crds`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "BUILTIN_RESOURCES",
    "CRD_GROUP",
    "PrinterColumn",
    "ResourceRegistry",
    "ResourceType",
    "builtin",
    "version_priority",
]

CRD_GROUP = "apiextensions.k8s.io"
_READ_VERBS = ("get", "list", "watch")
_WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


@dataclass(frozen=True)
class PrinterColumn:
    """One column of ``kubectl get`` output (a CRD's ``additionalPrinterColumns`` entry)."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""


@dataclass(frozen=True)
class ResourceType:
    """Everything the server knows about one served kind."""

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    scale_subresource: bool = False
    custom: bool = False
    generation_tracks_spec: bool = False
    extra_field_selectors: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    storage_version: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: all versions of a kind share one store."""
        return (self.group, self.plural)

    @property
    def qualified_name(self) -> str:
        """``virtualservices.networking.istio.io``, or ``secrets`` for the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def preferred_version(self) -> str:
        return self.versions[0]

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def verbs(self) -> tuple[str, ...]:
        return tuple(sorted((*_WRITE_VERBS, *_READ_VERBS)))

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def field_selectors(self) -> tuple[str, ...]:
        """Field names a list or watch may select on."""
        base: tuple[str, ...] = ("metadata.name",)
        if self.namespaced:
            base = (*base, "metadata.namespace")
        return base + self.extra_field_selectors

    def patch_types(self) -> list[str]:
        """Patch content types the resource accepts, in the real server's order."""
        types = ["application/json-patch+json", "application/merge-patch+json"]
        if not self.custom:
            types.append("application/strategic-merge-patch+json")
        return types


def _plural_of(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def builtin(
    group: str,
    version: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    status: bool = False,
    scale: bool = False,
    spec: bool = False,
    categories: tuple[str, ...] = (),
    fields: tuple[str, ...] = (),
    plural: str = "",
) -> ResourceType:
    """A built-in kind in one line; ``spec=True`` gives it a generation, bumped by spec changes
    (as the real server does for Deployments, HorizontalPodAutoscalers and CRDs only, among
    these kinds)."""
    return ResourceType(
        group=group,
        versions=(version,),
        kind=kind,
        plural=plural or _plural_of(kind),
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
        categories=categories,
        status_subresource=status,
        scale_subresource=scale,
        generation_tracks_spec=spec,
        extra_field_selectors=fields,
        storage_version=version,
    )


_INVOLVED_OBJECT_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion")
_EVENT_FIELDS = (
    *(f"involvedObject.{name}" for name in (*_INVOLVED_OBJECT_FIELDS, "fieldPath")),
    "reason",
    "reportingComponent",
    "source",
    "type",
)

BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    builtin("", "v1", "Namespace", namespaced=False, short=("ns",), status=True,
            fields=("status.phase",)),
    builtin("", "v1", "ConfigMap", short=("cm",)),
    builtin("", "v1", "Secret", fields=("type",)),
    builtin("", "v1", "ServiceAccount", short=("sa",)),
    builtin("", "v1", "Service", short=("svc",), status=True, categories=("all",)),
    builtin("", "v1", "Event", short=("ev",), fields=_EVENT_FIELDS),
    builtin("apps", "v1", "Deployment", short=("deploy",), status=True, scale=True, spec=True,
            categories=("all",)),
    builtin("autoscaling", "v2", "HorizontalPodAutoscaler", short=("hpa",), status=True, spec=True,
            categories=("all",)),
    builtin("coordination.k8s.io", "v1", "Lease"),
    builtin("rbac.authorization.k8s.io", "v1", "Role"),
    builtin("rbac.authorization.k8s.io", "v1", "RoleBinding"),
    builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", namespaced=False),
    builtin("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", namespaced=False),
    builtin(CRD_GROUP, "v1", "CustomResourceDefinition", namespaced=False, short=("crd", "crds"),
            status=True, spec=True),
)  # fmt: skip

_VERSION_PATTERN = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in Kubernetes' priority order: v2, v1, v1beta1, v1alpha1, other."""
    match = _VERSION_PATTERN.match(version)
    if not match:
        return (3, 0, 0, version)
    major = int(match.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor, "")


@dataclass
class ResourceRegistry:
    """Thread-safe table of served kinds; built-ins at start, CRD kinds added at run time."""

    _by_key: dict[tuple[str, str], ResourceType] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def with_builtins(cls, extra: Iterable[ResourceType] = ()) -> ResourceRegistry:
        registry = cls()
        for resource in (*BUILTIN_RESOURCES, *extra):
            registry.register(resource)
        return registry

    def register(self, resource: ResourceType) -> None:
        with self._lock:
            self._by_key[resource.key] = resource

    def unregister(self, *, group: str, plural: str) -> None:
        with self._lock:
            self._by_key.pop((group, plural), None)

    def lookup(self, *, group: str, version: str, plural: str) -> ResourceType | None:
        """The kind served at ``/apis/GROUP/VERSION/PLURAL``, if any."""
        with self._lock:
            resource = self._by_key.get((group, plural))
        if resource is None or version not in resource.versions:
            return None
        return resource

    def by_key(self, key: tuple[str, str]) -> ResourceType | None:
        with self._lock:
            return self._by_key.get(key)

    def all(self) -> list[ResourceType]:
        with self._lock:
            return sorted(self._by_key.values(), key=lambda r: (r.group, r.plural))

    def group_versions(self) -> dict[str, list[str]]:
        """Each served group with its versions, preferred (highest priority) first."""
        versions: dict[str, set[str]] = {}
        for resource in self.all():
            versions.setdefault(resource.group, set()).update(resource.versions)
        return {
            group: sorted(found, key=version_priority) for group, found in sorted(versions.items())
        }

    def resources_in(self, *, group: str, version: str) -> list[ResourceType]:
        return [r for r in self.all() if r.group == group and version in r.versions]
