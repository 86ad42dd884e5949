"""RBAC rules evaluated the way the Kubernetes authorizer does, for the manifests' tests.

A request is reduced to the attributes RBAC sees (API group, resource, subresource, verb,
namespace, name); a rule allows it when its ``apiGroups``, ``resources`` (with ``res/sub``
for a subresource and ``*`` wildcards) and ``verbs`` match and, when it names
``resourceNames``, the request names one of them. A ClusterRole bound by a
ClusterRoleBinding applies in every namespace; a Role bound by a RoleBinding only in its
own. Only bindings to the given ServiceAccount count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from kubelite import RequestRecord

__all__ = ["Call", "Grant", "call_of", "grants_for", "matching_grants"]


@dataclasses.dataclass(frozen=True, order=True)
class Call:
    """One API request as the authorizer sees it."""

    group: str
    resource: str  # "rollouts" or "rollouts/status"
    verb: str
    namespace: str = ""
    name: str = ""

    def describe(self) -> str:
        group = self.group or "core"
        where = f" in {self.namespace}" if self.namespace else " (all namespaces)"
        named = f" {self.name}" if self.name else ""
        return f"{self.verb} {group}/{self.resource}{named}{where}"


def call_of(record: RequestRecord) -> Call:
    """The authorizer's view of a logged request (a create carries no name to RBAC)."""
    resource = record.resource
    if record.subresource:
        resource = f"{resource}/{record.subresource}"
    name = "" if record.verb == "create" else record.name
    return Call(record.group, resource, record.verb, record.namespace, name)


@dataclasses.dataclass(frozen=True)
class Grant:
    """One rule of one role, with where it applies (``namespace`` empty: everywhere)."""

    role: str
    index: int
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...]
    namespace: str = ""

    def allows(self, call: Call) -> bool:
        if self.namespace and call.namespace != self.namespace:
            return False
        if "*" not in self.api_groups and call.group not in self.api_groups:
            return False
        if not self._resource_matches(call.resource):
            return False
        if "*" not in self.verbs and call.verb not in self.verbs:
            return False
        return not self.resource_names or (bool(call.name) and call.name in self.resource_names)

    def _resource_matches(self, resource: str) -> bool:
        _, _, sub = resource.partition("/")
        return any(
            pattern in ("*", resource) or (bool(sub) and pattern == f"*/{sub}")
            for pattern in self.resources
        )

    def describe(self) -> str:
        names = f" names={list(self.resource_names)}" if self.resource_names else ""
        return (
            f"{self.role} rule {self.index}: groups={list(self.api_groups)} "
            f"resources={list(self.resources)} verbs={list(self.verbs)}{names}"
        )

    def verb_resource_pairs(self) -> list[tuple[str, str, str]]:
        """Every (group, resource, verb) this rule grants, for the unused-grant check."""
        return [
            (group, resource, verb)
            for group in self.api_groups
            for resource in self.resources
            for verb in self.verbs
        ]


def _subject_is(subjects: Iterable[Mapping[str, Any]], account: str, namespace: str) -> bool:
    return any(
        subject.get("kind") == "ServiceAccount"
        and subject.get("name") == account
        and subject.get("namespace") == namespace
        for subject in subjects
    )


def _rules(role: Mapping[str, Any], namespace: str) -> list[Grant]:
    kind_name = f"{role['kind']} {role['metadata']['name']}"
    return [
        Grant(
            role=kind_name,
            index=index,
            api_groups=tuple(rule.get("apiGroups") or ()),
            resources=tuple(rule.get("resources") or ()),
            verbs=tuple(rule.get("verbs") or ()),
            resource_names=tuple(rule.get("resourceNames") or ()),
            namespace=namespace,
        )
        for index, rule in enumerate(role.get("rules") or [])
    ]


def grants_for(
    documents: Iterable[Mapping[str, Any]], *, account: str, namespace: str
) -> list[Grant]:
    """Every rule bound to the ServiceAccount ``namespace/account`` in ``documents``."""
    docs = list(documents)
    cluster_roles = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ClusterRole"}
    roles = {
        (d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
        for d in docs
        if d.get("kind") == "Role"
    }
    grants: list[Grant] = []
    for doc in docs:
        kind = doc.get("kind")
        if kind not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not _subject_is(doc.get("subjects") or [], account, namespace):
            continue
        ref = doc["roleRef"]
        bound_in = "" if kind == "ClusterRoleBinding" else doc["metadata"]["namespace"]
        if ref["kind"] == "ClusterRole" and ref["name"] in cluster_roles:
            grants.extend(_rules(cluster_roles[ref["name"]], bound_in))
        elif ref["kind"] == "Role" and (bound_in, ref["name"]) in roles:
            grants.extend(_rules(roles[(bound_in, ref["name"])], bound_in))
    return grants


def matching_grants(grants: Iterable[Grant], call: Call) -> list[Grant]:
    return [grant for grant in grants if grant.allows(call)]
