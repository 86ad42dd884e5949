"""HTTP handling: turns requests into store calls and answers as the real server does.

:class:`ApiRequestHandler` (a ``BaseHTTPRequestHandler`` speaking HTTP/1.1 with keep-alive)
routes each request (:mod:`.routes`), serves discovery (:mod:`.discovery`), and runs the
verbs on resources: create (201), get, list (``kind: XList`` with
``metadata.resourceVersion``, label and field selectors, ``limit``/``continue``), watch
(chunked newline-delimited JSON, :mod:`.watch`), update (PUT), patch (:mod:`.patching`),
delete (the object for custom resources, a ``Success`` Status for built-ins, the marked
object while finalizers hold it) and deletecollection. ``kubectl get`` tables come from
:mod:`.tables`. What each verb answers is decided by :mod:`.responses`; this module reads
requests and writes responses.
``/openapi/v3`` answers the small documents of :mod:`.openapi` and ``/openapi/v2`` a 404, so
kubectl leaves validation to the server and falls back to its built-in types. Every request
is appended to the server's request log as a :class:`RequestRecord`. Failures are ``Status``
bodies (:mod:`.status`).
"""

from __future__ import annotations

import json
import logging
import select
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubelite import discovery, openapi, patching, responses, scale, status, tables, watch
from kubelite.resources import ResourceRegistry, ResourceType
from kubelite.routes import Route, parse_route, verb_for
from kubelite.server_state import RequestRecord, ServerState

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

    def _serve_resource(
        self, state: ServerState, route: Route, verb: str, query: dict[str, list[str]], body: bytes
    ) -> None:
        resource = responses.resolve(state.registry, route, verb)
        if query.get("dryRun"):
            raise status.bad_request("dryRun is not supported by the local API server")
        store = state.store
        namespace = route.namespace or ""
        subresource = route.subresource or None
        accept = self.headers.get("Accept", "")
        content_type = self.headers.get("Content-Type", "")

        def send_object(code: int, obj: JsonObject) -> None:
            document = responses.object_document(resource, route.version, obj, query, accept=accept)
            self._send_json(code, document)

        if subresource == "scale":
            self._serve_scale(state, resource, route, verb, body)
        elif verb == "get":
            send_object(200, store.get(resource, namespace, route.name))
        elif verb == "list":
            listed = responses.list_document(store, resource, route, query, accept=accept)
            self._send_json(200, listed)
        elif verb == "watch":
            self._serve_watch(state, resource, route, query)
        elif verb == "create":
            created = store.create(resource, namespace, responses.decode_body(body, content_type))
            send_object(201, created)
        elif verb == "update":
            replacement = responses.decode_body(body, content_type)
            send_object(
                200,
                store.replace(
                    resource, namespace, route.name, replacement, subresource=subresource
                ),
            )
        elif verb == "patch":
            apply_patch = patching.patch_function(
                resource,
                self.headers.get("Content-Type", ""),
                body,
            )
            send_object(
                200,
                store.patch(resource, namespace, route.name, apply_patch, subresource=subresource),
            )
        elif verb == "delete":
            self._send_json(*responses.delete(store, resource, route, body))
        elif verb == "deletecollection":
            self._send_json(200, responses.delete_collection(store, resource, route, query))
        else:
            raise status.method_not_allowed()

    def _serve_scale(
        self, state: ServerState, resource: ResourceType, route: Route, verb: str, body: bytes
    ) -> None:
        """``deployments/NAME/scale``: the replicas as a ``Scale`` (:mod:`.scale`)."""
        store, namespace = state.store, route.namespace or ""
        if verb == "get":
            self._send_json(200, scale.scale_of(store.get(resource, namespace, route.name)))
            return
        content_type = self.headers.get("Content-Type", "")
        if verb == "patch":
            patch_scale = patching.patch_function(resource, content_type, body)

            def new_scale(current: JsonObject) -> JsonObject:
                return patch_scale(scale.scale_of(current))
        else:
            replacement = responses.decode_body(body, content_type)

            def new_scale(current: JsonObject) -> JsonObject:
                return replacement

        def rescaled(current: JsonObject) -> JsonObject:
            return scale.apply_scale(current, new_scale(current))

        updated = store.patch(resource, namespace, route.name, rescaled)
        self._send_json(200, scale.scale_of(updated))

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
            matchers=responses.matchers(resource, query),
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
