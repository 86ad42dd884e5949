"""The informer against the local API server: one list, then a watch that keeps the cache
current, reports each change, resumes without listing again, and lists again on 410.

Inputs: ConfigMaps created, changed and deleted through the official client (a plain kind
every server has) and the server's own request log; outputs: the cache, the changes
reported, and the list and watch requests made.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
import pytest

from kubelite import LocalApiServer
from rollout.kubeapi.informer import Informer
from tests.kube.crd_file import crd_document
from tests.kube_clients import as_body


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def config_map(name: str, value: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "data": {"v": value}}


class Changes:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str | None]] = []
        self.lock = threading.Lock()

    def __call__(self, key: Any, old: Any, new: Any) -> None:
        with self.lock:
            before = old["data"]["v"] if old else None
            after = new["data"]["v"] if new else None
            self.seen.append((key[1], before, after))


@pytest.fixture
def core(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
def informer(core: kubernetes.client.CoreV1Api, changes: Changes) -> Iterator[Informer]:
    core.create_namespaced_config_map("default", as_body(config_map("first", "1")))
    list_call = functools.partial(core.list_namespaced_config_map, "default")
    running = Informer(list_call, name="configmaps", on_change=changes, watch_timeout=2)
    running.start()
    yield running
    running.stop()


def test_the_first_list_fills_the_cache_and_reports_every_object(
    informer: Informer, changes: Changes
) -> None:
    assert informer.synced.is_set()
    found = informer.get("default", "first")
    assert found is not None and found["data"] == {"v": "1"}
    assert changes.seen == [("first", None, "1")]


def test_the_watch_keeps_the_cache_current_and_reports_changes(
    informer: Informer, changes: Changes, core: kubernetes.client.CoreV1Api
) -> None:
    core.create_namespaced_config_map("default", as_body(config_map("second", "a")))
    core.patch_namespaced_config_map("second", "default", {"data": {"v": "b"}})
    core.delete_namespaced_config_map("first", "default")
    wait_until(lambda: len(changes.seen) == 4)
    assert changes.seen[1:] == [("second", None, "a"), ("second", "a", "b"), ("first", "1", None)]
    assert informer.get("default", "first") is None
    assert [item["metadata"]["name"] for item in informer.items("default")] == ["second"]


def test_watch_events_reach_the_cache_as_the_servers_json_without_client_models(
    informer: Informer,
    changes: Changes,
    core: kubernetes.client.CoreV1Api,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[object] = []
    deserialize = kubernetes.client.ApiClient.deserialize

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():  # not the patches'
            built.append(args[1] if len(args) > 1 else kwargs.get("response_type"))
        return deserialize(self, *args, **kwargs)

    monkeypatch.setattr(kubernetes.client.ApiClient, "deserialize", counted)
    for value in ("2", "3", "4"):
        core.patch_namespaced_config_map("first", "default", {"data": {"v": value}})
    wait_until(lambda: ("first", "3", "4") in changes.seen)
    assert built == []  # no V1ConfigMap built (nor JSON encoded again) per event
    found = informer.get("default", "first")
    assert found is not None and found["data"] == {"v": "4"}


def test_a_watch_that_ends_is_resumed_without_listing_again(
    informer: Informer,
    changes: Changes,
    core: kubernetes.client.CoreV1Api,
    apiserver: LocalApiServer,
) -> None:
    time.sleep(4.5)  # two 2 s watches have ended meanwhile
    core.patch_namespaced_config_map("first", "default", {"data": {"v": "2"}})
    wait_until(lambda: ("first", "1", "2") in changes.seen)
    lists = [r for r in apiserver.requests if r.resource == "configmaps" and r.verb == "list"]
    watches = [r for r in apiserver.requests if r.resource == "configmaps" and r.verb == "watch"]
    assert informer.lists == 1 and len(lists) == 1
    assert len(watches) >= 3


def test_an_expired_resource_version_lists_again(
    core: kubernetes.client.CoreV1Api, changes: Changes, tmp_path: Any
) -> None:
    with LocalApiServer(history_limit=5) as small:
        path = str(small.write_kubeconfig(tmp_path / "kc"))
        client = kubernetes.config.new_client_from_config(path)
        writer = kubernetes.config.new_client_from_config(path)  # not the watch's connections
        api = kubernetes.client.CoreV1Api(writer)
        api.create_namespaced_config_map("default", as_body(config_map("first", "1")))
        watched = kubernetes.client.CoreV1Api(client)
        list_call = functools.partial(watched.list_namespaced_config_map, "default")
        informer = Informer(list_call, name="configmaps", on_change=changes, watch_timeout=1)
        informer.start()
        try:
            informer.stop()  # meanwhile the server's history moves past our version
            for value in range(20):
                api.patch_namespaced_config_map("first", "default", {"data": {"v": str(value)}})
            informer.start()  # resumes from its version: 410 Gone, so it lists again
            wait_until(lambda: informer.lists == 2)
            wait_until(lambda: (informer.get("default", "first") or {}).get("data") == {"v": "19"})
        finally:
            informer.stop()
            client.close()
            writer.close()


def test_an_older_copy_never_replaces_a_newer_one(informer: Informer) -> None:
    current = informer.get("default", "first")
    assert current is not None
    newer = {**current, "metadata": {**current["metadata"], "resourceVersion": "999999"}}
    informer.remember(newer)
    informer.remember(current)
    cached = informer.get("default", "first")
    assert cached is not None and cached["metadata"]["resourceVersion"] == "999999"


def test_a_write_remembered_is_reported_once_not_again_by_its_watch_event(
    informer: Informer, changes: Changes, core: kubernetes.client.CoreV1Api
) -> None:
    written = core.replace_namespaced_config_map(
        "first", "default", as_body(config_map("first", "2"))
    )
    informer.remember(core.api_client.sanitize_for_serialization(written))
    # reported at once, by the write's copy (or by its watch event, if that came first)
    assert ("first", "1", "2") in changes.seen
    time.sleep(1.0)  # the watch event has come meanwhile: it reports nothing new
    reported = [change for change in changes.seen if change[1] != change[2]]
    assert reported.count(("first", "1", "2")) == 1


def test_a_kind_no_longer_served_unsyncs_the_cache_and_is_logged_once(
    api_client: kubernetes.client.ApiClient,
    rollout_crd: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    extensions = kubernetes.client.ApiextensionsV1Api(api_client)
    objects = kubernetes.client.CustomObjectsApi(api_client)
    list_call = functools.partial(
        objects.list_cluster_custom_object, "canary.rollout.dev", "v1alpha1", "rollouts"
    )
    informer = Informer(list_call, name="rollouts", watch_timeout=1, retry_delay=0.1)
    informer.start()
    try:
        assert informer.synced.is_set()
        with caplog.at_level(logging.INFO, logger="rollout.kubeapi.informer"):
            extensions.delete_custom_resource_definition(rollout_crd["metadata"]["name"])
            wait_until(lambda: not informer.synced.is_set())
            time.sleep(2)  # retries that once logged a warning each
            extensions.create_custom_resource_definition(as_body(crd_document()))
            wait_until(informer.synced.is_set, timeout=60)
        messages = [record.getMessage() for record in caplog.records]
        assert [m for m in messages if "failed" in m] == [
            "watch of rollouts failed, retrying: NotFoundException: HTTP 404 Not Found"
        ]
        assert messages[-1] == "watch of rollouts works again"
    finally:
        informer.stop()
