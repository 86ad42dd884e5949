"""HTTP handling: turns requests into store calls and answers as the real server does.

:class:`ApiRequestHandler` (a ``BaseHTTPRequestHandler`` speaking HTTP/1.1 with keep-alive)
routes each request (:mod:`.routes`), serves discovery (:mod:`.discovery`), and runs the
verbs on resources: create (201), get, list (``kind: XList`` with
``metadata.resourceVersion``, label and field selectors, ``limit``/``continue``), watch
(chunked newline-delimited JSON, :mod:`.watch`), update (PUT), patch (:mod:`.patching`),
delete (the object for custom resources, a ``Success`` Status for built-ins, the marked
object while finalizers hold it) and deletecollection. ``kubectl get`` tables come from
:mod:`.tables`.
``/openapi/v3`` answers the small documents of :mod:`.openapi` and ``/openapi/v2`` a 404, so
kubectl leaves validation to the server and falls back to its built-in types. Every request
is appended to the server's request log as a :class:`RequestRecord`. Failures are ``Status``
bodies (:mod:`.status`).
"""

from __future__ import annotations

import base64
import json
import logging
import select
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from kubelite import discovery, openapi, patching, selectors, status, tables, watch
from kubelite.resources import ResourceRegistry, ResourceType
from kubelite.routes import Route, parse_route, verb_for
from kubelite.server_state import RequestRecord, ServerState
from kubelite.storage import ObjectStore

__all__ = ["ApiHttpServer", "ApiRequestHandler"]

JsonObject = dict[str, Any]
_log = logging.getLogger(__name__)


class ApiHttpServer(ThreadingHTTPServer):
    """A threaded HTTP server carrying the shared :class:`ServerState`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: ServerState) -> None:
        self.state = state
        super().__init__(address, ApiRequestHandler)


def _query_flag(query: dict[str, list[str]], name: str) -> bool:
    return query.get(name, [""])[0].lower() in ("true", "1")


class ApiRequestHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests (see the module docstring)."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms) on every keep-alive request.
    disable_nagle_algorithm = True
    server: ApiHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- plumbing ------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(
        self, code: int, body: object, *, content_type: str = "application/json"
    ) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self._code = code
        self._record()
        self.wfile.write(payload)

    def _send_text(self, code: int, text: str) -> None:
        payload = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self._code = code
        self._record()
        self.wfile.write(payload)

    def _dispatch(self) -> None:
        self._code = 0
        self._recorded = False
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        body = self._read_body()
        route = parse_route(url.path)
        is_watch = _query_flag(query, "watch")
        verb = self.command.lower()
        if route is not None and route.endpoint == "resource":
            verb = verb_for(self.command, route, watch=is_watch)
        self._request = (url, route, verb)
        try:
            if route is None:
                raise status.resource_not_found()
            state = self.server.state
            if route.endpoint == "resource":
                self._serve_resource(state, route, verb, query, body)
            else:
                self._serve_discovery(state.registry, route)
        except status.ApiError as error:
            self._send_json(error.code, error.to_status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # an unexpected failure must still answer a Status
            _log.exception("internal error serving %s %s", self.command, self.path)
            self._send_json(
                500,
                status.ApiError(
                    code=500, reason="InternalError", message=f"Internal error occurred: {error}"
                ).to_status(),
            )
        finally:
            self._record()

    def _record(self) -> None:
        """Log the request once, before its response body leaves: a client that reads
        ``requests`` right after its call returned must find the call there."""
        if self._recorded:
            return
        self._recorded = True
        url, found, verb = self._request
        route = found or Route(endpoint="unknown")
        self.server.state.record(
            RequestRecord(
                method=self.command,
                path=url.path,
                verb=verb,
                group=route.group,
                version=route.version,
                resource=route.plural,
                namespace=route.namespace or "",
                name=route.name,
                subresource=route.subresource,
                query=url.query,
                code=self._code,
                user_agent=self.headers.get("User-Agent", ""),
            )
        )

    # -- discovery -----------------------------------------------------------------------

    def _serve_discovery(self, registry: ResourceRegistry, route: Route) -> None:
        if self.command != "GET":
            raise status.method_not_allowed()
        accept = self.headers.get("Accept", "")
        if route.endpoint == "health":
            self._send_text(200, "ok")
        elif route.endpoint == "version":
            self._send_json(200, discovery.version_info())
        elif route.endpoint == "root":
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
            self._send_json(200, {"paths": paths})
        elif route.endpoint in ("legacy-versions", "group-list"):
            legacy = route.endpoint == "legacy-versions"
            aggregated = discovery.negotiated_aggregated_type(accept)
            if aggregated is not None:
                document = discovery.aggregated_discovery(
                    registry, legacy=legacy, media_type=aggregated
                )
                self._send_json(200, document, content_type=aggregated)
            elif legacy:
                address = ":".join(str(part) for part in self.server.server_address[:2])
                self._send_json(200, discovery.api_versions(server_address=address))
            else:
                self._send_json(200, discovery.api_group_list(registry))
        elif route.endpoint == "openapi-index":
            self._send_json(200, openapi.index_document(registry))
        elif route.endpoint == "openapi":
            spec = openapi.group_version_document(
                registry, group=route.group, version=route.version
            )
            if spec is None:
                raise status.resource_not_found()
            self._send_json(200, spec)
        elif route.endpoint == "group":
            group = discovery.api_group(registry, route.group)
            if group is None:
                raise status.resource_not_found()
            self._send_json(200, group)
        else:
            resources = discovery.api_resource_list(
                registry, group=route.group, version=route.version
            )
            if resources is None:
                raise status.resource_not_found()
            self._send_json(200, resources)

    # -- resources -----------------------------------------------------------------------

    def _resolve(self, registry: ResourceRegistry, route: Route, verb: str) -> ResourceType:
        resource = registry.lookup(group=route.group, version=route.version, plural=route.plural)
        if resource is None:
            raise status.resource_not_found()
        if route.namespace is not None and not resource.namespaced:
            raise status.resource_not_found()
        if resource.namespaced and route.namespace is None and verb not in ("list", "watch"):
            if route.name:
                raise status.resource_not_found()
            raise status.method_not_allowed()
        if route.subresource:
            if route.subresource != "status" or not resource.status_subresource:
                raise status.resource_not_found()
            if verb not in ("get", "update", "patch"):
                raise status.method_not_allowed()
        if verb == "create" and route.name:
            raise status.method_not_allowed()
        return resource

    def _serve_resource(
        self, state: ServerState, route: Route, verb: str, query: dict[str, list[str]], body: bytes
    ) -> None:
        resource = self._resolve(state.registry, route, verb)
        if query.get("dryRun"):
            raise status.bad_request("dryRun is not supported by the local API server")
        store = state.store
        namespace = route.namespace or ""
        subresource = route.subresource or None
        if verb == "get":
            obj = store.get(resource, namespace, route.name)
            self._send_object(resource, route.version, obj, query)
        elif verb == "list":
            self._serve_list(store, resource, route, query)
        elif verb == "watch":
            self._serve_watch(state, resource, route, query)
        elif verb == "create":
            created = store.create(resource, namespace, self._decode_object(body))
            self._send_object(resource, route.version, created, query, code=201)
        elif verb == "update":
            updated = store.replace(
                resource, namespace, route.name, self._decode_object(body), subresource=subresource
            )
            self._send_object(resource, route.version, updated, query)
        elif verb == "patch":
            apply_patch = patching.patch_function(
                resource,
                self.headers.get("Content-Type", ""),
                body,
                field_validation=query.get("fieldValidation", [""])[0],
            )
            patched = store.patch(
                resource, namespace, route.name, apply_patch, subresource=subresource
            )
            self._send_object(resource, route.version, patched, query)
        elif verb == "delete":
            self._serve_delete(store, resource, route, body)
        elif verb == "deletecollection":
            self._serve_delete_collection(store, resource, route, query)
        else:
            raise status.method_not_allowed()

    @staticmethod
    def _decode_object(body: bytes) -> JsonObject:
        try:
            document = json.loads(body)
        except ValueError:
            try:
                document = json.loads(json.dumps(yaml.safe_load(body), default=str))
            except yaml.YAMLError as error:
                raise status.bad_request(f"error decoding the request body: {error}") from error
        if not isinstance(document, dict):
            raise status.bad_request("the request body must be a JSON object")
        return document

    @staticmethod
    def _presented(resource: ResourceType, version: str, obj: JsonObject) -> JsonObject:
        shown = dict(obj)
        shown["apiVersion"] = resource.api_version(version)
        return shown

    def _send_object(
        self,
        resource: ResourceType,
        version: str,
        obj: JsonObject,
        query: dict[str, list[str]],
        *,
        code: int = 200,
    ) -> None:
        shown = self._presented(resource, version, obj)
        if tables.wants_table(self.headers.get("Accept", "")):
            table = tables.table_for(
                resource,
                [shown],
                resource_version=str(obj["metadata"].get("resourceVersion", "")),
                include_object=query.get("includeObject", ["Metadata"])[0],
            )
            self._send_json(code, table)
        else:
            self._send_json(code, shown)

    @staticmethod
    def _matchers(resource: ResourceType, query: dict[str, list[str]]) -> list[selectors.Matcher]:
        matchers = selectors.parse_label_selector(query.get("labelSelector", [""])[0])
        matchers += selectors.parse_field_selector(
            query.get("fieldSelector", [""])[0], allowed=resource.field_selectors()
        )
        return matchers

    def _serve_list(
        self, store: ObjectStore, resource: ResourceType, route: Route, query: dict[str, list[str]]
    ) -> None:
        matchers = self._matchers(resource, query)
        items, revision = store.list_objects(resource, route.namespace)
        selected = [
            self._presented(resource, route.version, obj)
            for obj in items
            if selectors.match_all(matchers, obj)
        ]
        metadata: JsonObject = {"resourceVersion": str(revision)}
        start = 0
        if token := query.get("continue", [""])[0]:
            try:
                start = int(json.loads(base64.urlsafe_b64decode(token))["start"])
            except (ValueError, KeyError, TypeError) as error:
                raise status.bad_request("continue key is not valid") from error
        limit = int(query.get("limit", ["0"])[0] or 0)
        page = selected[start : start + limit] if limit > 0 else selected[start:]
        if limit > 0 and start + limit < len(selected):
            next_token = json.dumps({"start": start + limit, "rv": revision}).encode()
            metadata["continue"] = base64.urlsafe_b64encode(next_token).decode()
            metadata["remainingItemCount"] = len(selected) - start - limit
        if tables.wants_table(self.headers.get("Accept", "")):
            table = tables.table_for(
                resource,
                page,
                resource_version=str(revision),
                include_object=query.get("includeObject", ["Metadata"])[0],
            )
            table["metadata"] = metadata
            self._send_json(200, table)
            return
        if not resource.custom:
            page = [
                {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")} for obj in page
            ]
        self._send_json(
            200,
            {
                "apiVersion": resource.api_version(route.version),
                "kind": resource.list_kind,
                "metadata": metadata,
                "items": page,
            },
        )

    def _serve_delete(
        self, store: ObjectStore, resource: ResourceType, route: Route, body: bytes
    ) -> None:
        options = self._decode_object(body) if body.strip() else {}
        preconditions = options.get("preconditions") if isinstance(options, dict) else None
        namespace = route.namespace or ""
        obj, gone = store.delete(
            resource,
            namespace,
            route.name,
            preconditions=preconditions if isinstance(preconditions, dict) else None,
        )
        shown = self._presented(resource, route.version, obj)
        if not gone:
            # the real server answers 202 only when orphanDependents is explicitly false
            accepted = isinstance(options, dict) and options.get("orphanDependents") is False
            self._send_json(202 if accepted else 200, shown)
        elif resource.custom:
            self._send_json(200, shown)
        else:
            self._send_json(
                200,
                status.success_status(
                    group=resource.group,
                    plural=resource.plural,
                    name=route.name,
                    uid=str(obj["metadata"].get("uid", "")),
                ),
            )

    def _serve_delete_collection(
        self, store: ObjectStore, resource: ResourceType, route: Route, query: dict[str, list[str]]
    ) -> None:
        matchers = self._matchers(resource, query)
        items, _ = store.list_objects(resource, route.namespace)
        deleted = []
        for obj in items:
            if not selectors.match_all(matchers, obj):
                continue
            meta = obj["metadata"]
            try:
                gone_obj, _gone = store.delete(resource, meta.get("namespace", ""), meta["name"])
            except status.ApiError as error:
                if error.code == 404:
                    continue
                raise
            deleted.append(self._presented(resource, route.version, gone_obj))
        revision = store.revision
        self._send_json(
            200,
            {
                "apiVersion": resource.api_version(route.version),
                "kind": resource.list_kind,
                "metadata": {"resourceVersion": str(revision)},
                "items": deleted,
            },
        )

    # -- watch ---------------------------------------------------------------------------

    def _client_gone(self) -> bool:
        connection: socket.socket = self.connection
        try:
            readable, _, _ = select.select([connection], [], [], 0)
            if not readable:
                return False
            return connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _serve_watch(
        self, state: ServerState, resource: ResourceType, route: Route, query: dict[str, list[str]]
    ) -> None:
        timeout = float(query.get("timeoutSeconds", [""])[0] or state.default_watch_timeout)
        request = watch.WatchRequest(
            resource=resource,
            version=route.version,
            namespace=route.namespace,
            matchers=self._matchers(resource, query),
            resource_version=query.get("resourceVersion", [""])[0],
            timeout_seconds=timeout,
            allow_bookmarks=_query_flag(query, "allowWatchBookmarks"),
            send_initial_events=_query_flag(query, "sendInitialEvents"),
            bookmark_interval=state.bookmark_interval,
            as_table=tables.wants_table(self.headers.get("Accept", "")),
            include_object=query.get("includeObject", ["Metadata"])[0],
        )
        watch.start_revision(request.resource_version)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self._code = 200
        self._record()

        def send(event: JsonObject) -> None:
            line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        try:
            watch.run_watch(state.store, request, send=send, client_gone=self._client_gone)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True
