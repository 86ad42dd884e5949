"""The local API server's request log, as tests read it right after a call returns.

Inputs: official-client calls (get, JSON patch, a failing get) made one after another.
Output: as soon as each call has returned, the log's last record is that call, with its
verb and code; the log is never one request behind the client. The same records, read back
from the JSON-lines file of a server started with ``request_log``.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest

from kubelite import LocalApiServer, read_request_log

ROUNDS = 100


def test_each_call_is_logged_before_its_answer_arrives(
    apiserver: LocalApiServer, api_client: kubernetes.client.ApiClient
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    for round_ in range(ROUNDS):
        core.read_namespace("default")
        assert (apiserver.requests[-1].verb, apiserver.requests[-1].code) == ("get", 200), round_
        core.patch_namespace(
            "default",
            [{"op": "add", "path": "/metadata/labels", "value": {"round": str(round_)}}],
            _content_type="application/json-patch+json",
        )
        assert (apiserver.requests[-1].verb, apiserver.requests[-1].code) == ("patch", 200), round_
        with pytest.raises(kubernetes.client.ApiException):
            core.read_namespace("missing")
        last = apiserver.requests[-1]
        assert (last.verb, last.name, last.code) == ("get", "missing", 404), round_


def test_a_request_log_file_holds_the_same_records_as_the_server(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    with LocalApiServer(request_log=path) as server:
        api = kubernetes.config.new_client_from_config(str(server.write_kubeconfig(tmp_path / "k")))
        core = kubernetes.client.CoreV1Api(api)
        core.read_namespace("default")
        with pytest.raises(kubernetes.client.ApiException):
            core.read_namespace("missing")
        in_memory = server.requests
    assert read_request_log(path.read_text()) == in_memory
    assert [(r.verb, r.name, r.code) for r in in_memory] == [
        ("get", "default", 200),
        ("get", "missing", 404),
    ]


def test_a_partial_last_line_of_the_request_log_is_left_for_the_next_read() -> None:
    whole = '{"method": "GET", "path": "/api", "verb": "get"}\n'
    assert [r.path for r in read_request_log(whole + whole[:20])] == ["/api"]
