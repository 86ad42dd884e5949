"""The Istio router racing another writer, watched as it goes.

Inputs: the realistic mesh VirtualService; a writer thread that keeps editing labels,
annotations, the managed route's retries and an unmanaged route's timeout (patches without
a resourceVersion, as ``kubectl patch`` or another controller would send); the router
shifting weights through 5/25/50/100 and back to stable (0). Outputs: every edit of the
writer is present at the end (or overwritten only by its own later edit), the router
reached every weight, and a watch stream never saw a managed route whose weights did not
sum to 100.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import kubernetes
import pytest

from rollout.effects import SetWeights
from rollout.mesh.istio import IstioRouter
from tests.kube_clients import CustomObjects
from tests.mesh.objects import (
    FALLBACK,
    ISTIO_GROUP,
    NAMESPACE,
    PRIMARY,
    STATIC,
    Create,
    destination_rule,
    effective_weights,
    make_rollout,
    mesh_virtual_service,
    subset_weights,
)

JSON_PATCH = "application/json-patch+json"
MAX_WRITER_EDITS = 3000
TEST_DEADLINE_SECONDS = 60.0


class Writer(threading.Thread):
    """Edits fields the router must never touch, until told to stop (bounded)."""

    def __init__(self, objects: CustomObjects) -> None:
        super().__init__(name="concurrent-writer", daemon=True)
        self.objects = objects
        self.stop_requested = threading.Event()
        self.edits = 0
        self.last: dict[str, Any] = {}
        self.error: BaseException | None = None

    def patch(self, body: Any, content_type: str) -> None:
        self.objects.patch_namespaced_custom_object(
            ISTIO_GROUP,
            "v1",
            NAMESPACE,
            "virtualservices",
            "checkout",
            body,
            _content_type=content_type,
        )

    def run(self) -> None:
        try:
            while not self.stop_requested.is_set() and self.edits < MAX_WRITER_EDITS:
                edit = self.edits
                kind = edit % 4
                if kind == 0:
                    self.patch(
                        {"metadata": {"labels": {f"edit-{edit}": "done"}}},
                        "application/merge-patch+json",
                    )
                elif kind == 1:
                    annotations = {
                        f"writer.example.com/edit-{edit}": "done",
                        "writer.example.com/last": str(edit),
                    }
                    self.patch(
                        {"metadata": {"annotations": annotations}}, "application/merge-patch+json"
                    )
                    self.last["annotation"] = str(edit)
                elif kind == 2:
                    attempts = 2 + edit % 7
                    self.patch(
                        [
                            {
                                "op": "replace",
                                "path": f"/spec/http/{PRIMARY}/retries/attempts",
                                "value": attempts,
                            }
                        ],
                        JSON_PATCH,
                    )
                    self.last["attempts"] = attempts
                else:
                    timeout = f"{edit}ms"
                    self.patch(
                        [
                            {
                                "op": "replace",
                                "path": f"/spec/http/{STATIC}/timeout",
                                "value": timeout,
                            }
                        ],
                        JSON_PATCH,
                    )
                    self.last["timeout"] = timeout
                self.edits += 1
                time.sleep(0.002)
        except BaseException as error:  # reported by the test
            self.error = error


class Watcher(threading.Thread):
    """Watches the VirtualService and checks every version it sees, until a done label."""

    def __init__(self, objects: CustomObjects, resource_version: str) -> None:
        super().__init__(name="weight-watcher", daemon=True)
        self.objects = objects
        self.resource_version = resource_version
        self.seen: list[dict[str, int]] = []
        self.bad: list[str] = []
        self.events = 0
        self.finished = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        watch = kubernetes.watch.Watch()
        try:
            for event in watch.stream(
                self.objects.list_namespaced_custom_object,
                ISTIO_GROUP,
                "v1",
                NAMESPACE,
                "virtualservices",
                resource_version=self.resource_version,
                timeout_seconds=int(TEST_DEADLINE_SECONDS),
                _request_timeout=TEST_DEADLINE_SECONDS + 5,
            ):
                obj = event["object"]
                if event["type"] not in ("ADDED", "MODIFIED"):
                    continue
                self.events += 1
                for index in (PRIMARY, FALLBACK):
                    route = obj["spec"]["http"][index]
                    total = sum(effective_weights(route))
                    if total != 100:
                        self.bad.append(f"rv {obj['metadata']['resourceVersion']}: {route}")
                self.seen.append(subset_weights(obj["spec"]["http"][PRIMARY]))
                if obj["metadata"].get("labels", {}).get("watch-done") == "yes":
                    break
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            watch.stop()
            self.finished.set()


@pytest.mark.timeout(TEST_DEADLINE_SECONDS + 30)
def test_no_edit_is_lost_and_no_half_written_route_is_ever_seen(
    api_client: Any, objects: CustomObjects, create: Create
) -> None:
    create(destination_rule("v1", "v2"))
    created = create(mesh_virtual_service())
    rollout = make_rollout()
    router = IstioRouter(api_client)
    watcher = Watcher(objects, created["metadata"]["resourceVersion"])
    writer = Writer(objects)
    watcher.start()
    writer.start()
    started = time.monotonic()
    try:
        plan = [SetWeights("v1", "v2", w) for w in (5, 25, 50, 100)] + [SetWeights("v1", None, 0)]
        for weights in plan:
            time.sleep(0.15)  # let the writer interleave
            router.set_weights(rollout, weights)
            assert time.monotonic() - started < TEST_DEADLINE_SECONDS
        time.sleep(0.1)
    finally:
        writer.stop_requested.set()
        writer.join(timeout=10)
    objects.patch_namespaced_custom_object(
        ISTIO_GROUP,
        "v1",
        NAMESPACE,
        "virtualservices",
        "checkout",
        {"metadata": {"labels": {"watch-done": "yes"}}},
        _content_type="application/merge-patch+json",
    )
    assert watcher.finished.wait(timeout=15), "the watcher saw the final edit"

    assert writer.error is None, writer.error
    assert watcher.error is None, watcher.error
    assert writer.edits >= 20, f"the writer raced the router ({writer.edits} edits)"
    final = objects.get_namespaced_custom_object(
        ISTIO_GROUP, "v1", NAMESPACE, "virtualservices", "checkout"
    )
    labels = final["metadata"]["labels"]
    annotations = final["metadata"]["annotations"]
    for edit in range(writer.edits):
        if edit % 4 == 0:
            assert labels.get(f"edit-{edit}") == "done", f"label edit {edit} lost"
        elif edit % 4 == 1:
            assert annotations.get(f"writer.example.com/edit-{edit}") == "done", edit
    assert annotations["writer.example.com/last"] == writer.last["annotation"]
    assert final["spec"]["http"][PRIMARY]["retries"]["attempts"] == writer.last["attempts"]
    assert final["spec"]["http"][STATIC]["timeout"] == writer.last["timeout"]
    assert labels["team"] == "payments" and annotations["owner"] == "payments@example.com"

    assert watcher.bad == [], "a watcher saw weights that do not sum to 100"
    canary_weights = [seen.get("v2", 0) for seen in watcher.seen]
    for weight in (5, 25, 50, 100):
        assert weight in canary_weights, f"the watcher saw {weight}%"
    assert subset_weights(final["spec"]["http"][PRIMARY]) == {"v1": 100}
    assert subset_weights(final["spec"]["http"][FALLBACK]) == {"v1": 100}
    print(
        f"writer edits {writer.edits}, watch events {watcher.events}, "
        f"router patches {router.patches_sent}, conflicts retried {router.conflicts_seen}"
    )
