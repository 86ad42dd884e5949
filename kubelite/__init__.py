"""A faithful local stand-in for the part of the Kubernetes API the project uses.

No real kube-apiserver runs on our machines, so the demo and the tests talk to this server
instead, through the official ``kubernetes`` client or ``kubectl`` over HTTP from a
kubeconfig, exactly as to a cluster. What it serves:

- discovery (``/version``, ``/api``, ``/apis``, group and resource lists, aggregated
  discovery v2) and a minimal OpenAPI v3 index, so kubectl works (``/openapi/v2`` is 404);
- built-in kinds (Namespaces, ConfigMaps, Secrets, ServiceAccounts, Services, Events,
  Deployments, Leases, RBAC roles and bindings, CRDs) from a one-line-per-kind table in
  :mod:`.resources`, the Istio VirtualService and DestinationRule CRDs at start, and any
  kind defined later by applying a ``CustomResourceDefinition``;
- create/get/list/watch/update/patch/delete/deletecollection with resourceVersion
  concurrency, status subresources, label and field selectors, JSON, merge and strategic
  merge patches, and ``Status`` errors shaped like the real server's.

Public API::

    server = LocalApiServer(port=0)          # or: with LocalApiServer() as server: ...
    server.start()                           # serves on 127.0.0.1 in a thread
    server.url                               # "http://127.0.0.1:PORT"
    server.write_kubeconfig(path, namespace="default") -> Path
    server.requests                          # list[RequestRecord]: method, path, verb,
                                             # group, version, resource, namespace, name,
                                             # subresource, query, code
    server.clear_requests()
    server.stop()

    LocalApiServer(request_log=path)         # the request log also as JSON lines in a file
    read_request_log(text) -> list[RequestRecord]   # for a reader in another process

``rollout local apiserver --port PORT --kubeconfig PATH`` runs one in the foreground.
Modules: :mod:`.server` (lifecycle), :mod:`.handlers` (HTTP), :mod:`.responses` (what
each verb answers), :mod:`.routes`, :mod:`.discovery`, :mod:`.storage`, :mod:`.admission`
(what a write must satisfy and what the server sets), :mod:`.patching`, :mod:`.watch`,
:mod:`.selectors`, :mod:`.tables`, :mod:`.openapi`, :mod:`.server_state`, :mod:`.status`
(errors as ``Status`` objects), :mod:`.crds`, :mod:`.builtin_crds` and :mod:`.kubeconfig`.

Known simplifications: no authentication or authorization, no admission or schema
validation of custom resources, no server-side apply or dry run, no conversion between
versions of a kind (they share storage and differ only in ``apiVersion``, like CRDs with
conversion strategy ``None``), namespaces are created on first use and deleted at once.
"""

from __future__ import annotations

from kubelite.crds import crd_manifest
from kubelite.kubeconfig import write_kubeconfig
from kubelite.resources import ResourceType
from kubelite.server import LocalApiServer, read_request_log
from kubelite.server_state import RequestRecord

__all__ = [
    "LocalApiServer",
    "RequestRecord",
    "ResourceType",
    "crd_manifest",
    "read_request_log",
    "write_kubeconfig",
]
