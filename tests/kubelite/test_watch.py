"""Watches through the official client's ``watch.Watch().stream``.

Inputs: writes made while a watch is open (of its kind and of another), resume from a
resourceVersion, label selectors, ``timeoutSeconds`` and a server whose event history is
tiny. Outputs under test: the ADDED/MODIFIED/DELETED events in order, the stream ending on
time, and 410 Expired as ``ApiException`` when the history no longer reaches back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from kubelite import LocalApiServer
from tests.kube_clients import CustomObjects, custom_objects, new_api_client
from tests.kubelite.objects import (
    GROUP,
    NAMESPACE,
    PLURAL,
    create_vs,
    virtual_service,
)


@pytest.fixture
def kubeconfig_small_history(tmp_path: Path) -> Iterator[ApiClient]:
    """A client for a server that keeps only three events per kind."""
    with LocalApiServer(history_limit=3) as server:
        api = new_api_client(server.write_kubeconfig(tmp_path / "small"))
        try:
            yield api
        finally:
            api.close()


def collect_events(stream: Any, count: int) -> list[tuple[str, str]]:
    seen = []
    for event in stream:
        seen.append((event["type"], event["object"]["metadata"]["name"]))
        if len(seen) == count:
            break
    return seen


def test_watch_sees_added_modified_deleted(custom: CustomObjects) -> None:
    existing = create_vs(custom, virtual_service("before"))
    watcher = watch.Watch()
    stream = watcher.stream(
        custom.list_namespaced_custom_object, GROUP, "v1", NAMESPACE, PLURAL, timeout_seconds=10
    )

    def change_later() -> None:
        time.sleep(0.3)
        create_vs(custom, virtual_service("reviews"))
        custom.patch_namespaced_custom_object(
            GROUP, "v1", NAMESPACE, PLURAL, "reviews", {"spec": {"gateways": ["g"]}}
        )
        custom.delete_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "reviews")

    writer = threading.Thread(target=change_later)
    writer.start()
    try:
        seen = collect_events(stream, 4)
    finally:
        watcher.stop()
        writer.join(timeout=10)
    assert seen == [
        ("ADDED", "before"),
        ("ADDED", "reviews"),
        ("MODIFIED", "reviews"),
        ("DELETED", "reviews"),
    ]
    assert existing["metadata"]["name"] == "before"


def test_watch_resumes_from_resource_version(custom: CustomObjects) -> None:
    first = create_vs(custom, virtual_service("one"))
    create_vs(custom, virtual_service("two"))
    custom.delete_namespaced_custom_object(GROUP, "v1", NAMESPACE, PLURAL, "one")
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        "v1",
        NAMESPACE,
        PLURAL,
        resource_version=first["metadata"]["resourceVersion"],
        timeout_seconds=2,
    )
    assert collect_events(stream, 2) == [("ADDED", "two"), ("DELETED", "one")]


def test_a_watch_sees_its_kind_while_other_kinds_are_written(custom: CustomObjects) -> None:
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object, GROUP, "v1", NAMESPACE, PLURAL, timeout_seconds=10
    )

    def write_later() -> None:
        time.sleep(0.3)
        for index in range(20):  # another kind: no event for this watch
            body = {
                "apiVersion": f"{GROUP}/v1",
                "kind": "DestinationRule",
                "metadata": {"name": f"rule-{index}"},
                "spec": {"host": "shop"},
            }
            custom.create_namespaced_custom_object(GROUP, "v1", NAMESPACE, "destinationrules", body)
        create_vs(custom, virtual_service("after-the-rules"))

    writer = threading.Thread(target=write_later)
    writer.start()
    started = time.monotonic()
    assert collect_events(stream, 1) == [("ADDED", "after-the-rules")]
    assert time.monotonic() - started < 5, "woken by its own kind's write"
    writer.join()


def test_watch_honours_timeout_and_selectors(custom: CustomObjects) -> None:
    create_vs(custom, virtual_service("skipped", tier="b"))
    started = time.monotonic()
    events = list(
        watch.Watch().stream(
            custom.list_namespaced_custom_object,
            GROUP,
            "v1",
            NAMESPACE,
            PLURAL,
            label_selector="tier=a",
            timeout_seconds=1,
        )
    )
    elapsed = time.monotonic() - started
    assert events == []
    assert 0.9 <= elapsed < 5


def test_watch_from_expired_version_raises_gone(kubeconfig_small_history: ApiClient) -> None:
    custom = custom_objects(kubeconfig_small_history)
    first = create_vs(custom, virtual_service("v0"))
    for index in range(1, 6):
        create_vs(custom, virtual_service(f"v{index}"))
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        "v1",
        NAMESPACE,
        PLURAL,
        resource_version=first["metadata"]["resourceVersion"],
        timeout_seconds=2,
    )
    with pytest.raises(ApiException) as raised:
        next(iter(stream))
    assert raised.value.status == 410
    assert "Expired" in str(raised.value.reason)
