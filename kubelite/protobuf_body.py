"""Request bodies in Kubernetes' protobuf encoding, decoded to the JSON the store keeps.

kubectl sends built-in kinds as ``application/vnd.kubernetes.protobuf`` (``kubectl create
namespace|secret generic|configmap|deployment``, say): the bytes ``k8s\\x00`` then a
``runtime.Unknown`` message whose ``typeMeta`` names the kind and whose ``raw`` holds the
object's own message. This module decodes the wire format (varints and length-delimited
fields are all these messages use) against a table of the messages those commands send,
with the field numbers of ``k8s.io/api``'s ``generated.proto`` files, and produces the same
JSON object a client would have sent as ``application/json``: maps as objects, ``bytes`` as
base64, ``Time`` as RFC 3339 (the zero time as ``null``), ``Quantity`` and ``IntOrString``
as their JSON forms.

Go's generated marshallers write every non-pointer scalar, set or not, where its JSON
encoding omits the empty ones (``omitempty``); so a zero scalar (``""``, ``0``, ``false``) is
left out unless the table marks the field as a pointer (``replicas: 0`` is meaningful). A
field outside the table is left out when it carries nothing (zero, or empty bytes) and
refused with :class:`ProtobufBodyError` otherwise (the handler answers 415 and names it), so
nothing a client sent is ever dropped silently; sending JSON always works.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from typing import Any

__all__ = ["PROTOBUF_CONTENT_TYPE", "ProtobufBodyError", "decode_protobuf_body"]

PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"


class ProtobufBodyError(ValueError):
    """The body is not a Kubernetes protobuf envelope this server can read."""


@dataclass(frozen=True)
class F:
    """One field: its JSON name, wire type and, for messages and maps, the value type."""

    name: str
    kind: str  # string bytes bool int message map
    of: str = ""  # message name, or the map's value kind ("string", "bytes", a message)
    repeated: bool = False
    pointer: bool = False  # a Go pointer: present only when set, so a zero is meaningful


def _msg(*fields: tuple[int, F]) -> dict[int, F]:
    return dict(fields)


def s(name: str, repeated: bool = False) -> F:
    return F(name, "string", repeated=repeated)


def i(name: str, pointer: bool = False) -> F:
    return F(name, "int", pointer=pointer)


def b(name: str, pointer: bool = False) -> F:
    return F(name, "bool", pointer=pointer)


def m(name: str, of: str, repeated: bool = False) -> F:
    return F(name, "message", of, repeated)


def mp(name: str, of: str) -> F:
    return F(name, "map", of)


# field numbers from k8s.io/api and k8s.io/apimachinery generated.proto (v0.37)
MESSAGES: dict[str, dict[int, F]] = {
    "Unknown": _msg((1, m("typeMeta", "TypeMeta")), (2, F("raw", "bytes")),
                    (3, s("contentEncoding")), (4, s("contentType"))),
    "TypeMeta": _msg((1, s("apiVersion")), (2, s("kind"))),
    "ObjectMeta": _msg(
        (1, s("name")), (2, s("generateName")), (3, s("namespace")), (4, s("selfLink")),
        (5, s("uid")), (6, s("resourceVersion")), (7, i("generation")),
        (8, m("creationTimestamp", "Time")), (9, m("deletionTimestamp", "Time")),
        (10, i("deletionGracePeriodSeconds", True)), (11, mp("labels", "string")),
        (12, mp("annotations", "string")), (13, m("ownerReferences", "OwnerReference", True)),
        (14, s("finalizers", True)),
    ),
    "OwnerReference": _msg((5, s("apiVersion")), (1, s("kind")), (3, s("name")), (4, s("uid")),
                           (6, b("controller", True)), (7, b("blockOwnerDeletion", True))),
    "Time": _msg((1, i("seconds")), (2, i("nanos"))),
    "LabelSelector": _msg((1, mp("matchLabels", "string")),
                          (2, m("matchExpressions", "LabelSelectorRequirement", True))),
    "LabelSelectorRequirement": _msg((1, s("key")), (2, s("operator")), (3, s("values", True))),
    "Namespace": _msg((1, m("metadata", "ObjectMeta")), (2, m("spec", "NamespaceSpec")),
                      (3, m("status", "NamespaceStatus"))),
    "NamespaceSpec": _msg((1, s("finalizers", True))),
    "NamespaceStatus": _msg((1, s("phase"))),
    "Secret": _msg((1, m("metadata", "ObjectMeta")), (5, b("immutable", True)),
                   (2, mp("data", "bytes")), (4, mp("stringData", "string")), (3, s("type"))),
    "ConfigMap": _msg((1, m("metadata", "ObjectMeta")), (4, b("immutable", True)),
                      (2, mp("data", "string")), (3, mp("binaryData", "bytes"))),
    "ServiceAccount": _msg((1, m("metadata", "ObjectMeta")),
                           (2, m("secrets", "ObjectReference", True)),
                           (3, m("imagePullSecrets", "LocalObjectReference", True)),
                           (4, b("automountServiceAccountToken", True))),
    "ObjectReference": _msg((1, s("kind")), (2, s("namespace")), (3, s("name")), (4, s("uid")),
                            (5, s("apiVersion")), (6, s("resourceVersion")), (7, s("fieldPath"))),
    "LocalObjectReference": _msg((1, s("name"))),
    "Deployment": _msg((1, m("metadata", "ObjectMeta")), (2, m("spec", "DeploymentSpec")),
                       (3, m("status", "DeploymentStatus"))),
    "DeploymentSpec": _msg(
        (1, i("replicas", True)), (2, m("selector", "LabelSelector")),
        (3, m("template", "PodTemplateSpec")), (4, m("strategy", "DeploymentStrategy")),
        (5, i("minReadySeconds")), (6, i("revisionHistoryLimit", True)), (7, b("paused")),
        (9, i("progressDeadlineSeconds", True)),
    ),
    "DeploymentStrategy": _msg((1, s("type")), (2, m("rollingUpdate", "RollingUpdateDeployment"))),
    "RollingUpdateDeployment": _msg((1, m("maxUnavailable", "IntOrString")),
                                    (2, m("maxSurge", "IntOrString"))),
    "DeploymentStatus": _msg(
        (1, i("observedGeneration")), (2, i("replicas")), (3, i("updatedReplicas")),
        (7, i("readyReplicas")), (4, i("availableReplicas")), (5, i("unavailableReplicas")),
        (9, i("terminatingReplicas")), (8, i("collisionCount")),
    ),
    "IntOrString": _msg((1, i("type")), (2, i("intVal")), (3, s("strVal"))),
    "PodTemplateSpec": _msg((1, m("metadata", "ObjectMeta")), (2, m("spec", "PodSpec"))),
    "PodSpec": _msg(
        (20, m("initContainers", "Container", True)), (2, m("containers", "Container", True)),
        (3, s("restartPolicy")), (4, i("terminationGracePeriodSeconds", True)), (6, s("dnsPolicy")),
        (7, mp("nodeSelector", "string")), (8, s("serviceAccountName")),
        (9, s("serviceAccount")), (21, b("automountServiceAccountToken", True)),
        (15, m("imagePullSecrets", "LocalObjectReference", True)), (19, s("schedulerName")),
        (14, m("securityContext", "Empty")), (30, b("enableServiceLinks", True)),
        (10, s("nodeName")), (11, b("hostNetwork")), (12, b("hostPID")), (13, b("hostIPC")),
        (16, s("hostname")), (17, s("subdomain")), (24, s("priorityClassName")),
    ),
    "Container": _msg(
        (1, s("name")), (2, s("image")), (3, s("command", True)), (4, s("args", True)),
        (5, s("workingDir")), (6, m("ports", "ContainerPort", True)),
        (7, m("env", "EnvVar", True)), (8, m("resources", "ResourceRequirements")),
        (13, s("terminationMessagePath")), (20, s("terminationMessagePolicy")),
        (14, s("imagePullPolicy")), (16, b("stdin")), (17, b("stdinOnce")), (18, b("tty")),
    ),
    "ContainerPort": _msg((1, s("name")), (2, i("hostPort")), (3, i("containerPort")),
                          (4, s("protocol")), (5, s("hostIP"))),
    "EnvVar": _msg((1, s("name")), (2, s("value"))),
    "ResourceRequirements": _msg((1, mp("limits", "Quantity")), (2, mp("requests", "Quantity"))),
    "Quantity": _msg((1, s("string"))),
    "Empty": _msg(),
}  # fmt: skip

_KINDS = {"Namespace", "Secret", "ConfigMap", "ServiceAccount", "Deployment"}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise ProtobufBodyError("truncated protobuf body")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ProtobufBodyError("malformed varint in protobuf body")


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one message: varints as int, the rest as bytes."""
    found: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            found.append((number, value))
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise ProtobufBodyError("truncated protobuf body")
            found.append((number, data[at : at + length]))
            at += length
        else:
            raise ProtobufBodyError(f"unsupported protobuf wire type {wire} (field {number})")
    return found


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(kind: str, value: int | bytes, where: str) -> Any:
    if kind == "int" and isinstance(value, int):
        return _signed(value)
    if kind == "bool" and isinstance(value, int):
        return bool(value)
    if kind == "string" and isinstance(value, bytes):
        return value.decode("utf-8")
    if kind == "bytes" and isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise ProtobufBodyError(f"{where}: unexpected wire type for a {kind}")


def _value(kind: str, of: str, value: int | bytes, where: str) -> Any:
    if kind == "message":
        if not isinstance(value, bytes):
            raise ProtobufBodyError(f"{where}: expected a message")
        return decode_message(of or kind, value, where)
    return _scalar(kind, value, where)


def decode_message(name: str, data: bytes, where: str = "") -> Any:
    """One message as JSON (``Time``, ``Quantity`` and ``IntOrString`` in their JSON forms)."""
    schema = MESSAGES[name]
    where = where or name
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        field = schema.get(number)
        if field is None:
            if value in (0, b""):
                continue  # an unset Go field, written anyway
            raise ProtobufBodyError(f"field {number} of {name} ({where}) is not supported here")
        if field.kind in ("string", "int", "bool") and value in (0, b"") and not field.pointer:
            continue  # omitempty in JSON
        path = f"{where}.{field.name}"
        if field.kind == "map":
            if not isinstance(value, bytes):
                raise ProtobufBodyError(f"{path}: expected a map entry")
            entry = dict(_fields(value))
            key = _scalar("string", entry.get(1, b""), path)
            value_kind = field.of if field.of in ("string", "bytes") else "message"
            raw = entry.get(2, b"" if value_kind != "int" else 0)
            out.setdefault(field.name, {})[key] = _value(value_kind, field.of, raw, path)
        elif field.repeated:
            out.setdefault(field.name, []).append(_value(field.kind, field.of, value, path))
        else:
            decoded = _value(field.kind, field.of, value, path)
            if field.of == "Time" and decoded is None:
                continue  # the zero time: left out, as Go's JSON leaves it out
            out[field.name] = decoded
    return _json_form(name, out)


def _json_form(name: str, out: dict[str, Any]) -> Any:
    if name == "Time":
        seconds, nanos = out.get("seconds", 0), out.get("nanos", 0)
        if not seconds and not nanos:
            return None
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if name == "Quantity":
        return out.get("string", "0")
    if name == "IntOrString":
        return out.get("strVal", "") if out.get("type") == 1 else out.get("intVal", 0)
    return out


def decode_protobuf_body(body: bytes) -> dict[str, Any]:
    """A ``k8s\\x00`` + ``runtime.Unknown`` body as the JSON object of the kind it carries."""
    if not body.startswith(_MAGIC):
        raise ProtobufBodyError("a protobuf body must start with the k8s\\x00 envelope")
    envelope = decode_message("Unknown", body[len(_MAGIC) :])
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in _KINDS:
        raise ProtobufBodyError(
            f"protobuf bodies of kind {kind or '(none)'} are not supported here; send JSON"
        )
    if envelope.get("contentEncoding"):
        raise ProtobufBodyError(f"content encoding {envelope['contentEncoding']} is not supported")
    raw = base64.b64decode(envelope.get("raw", ""))
    decoded: dict[str, Any] = decode_message(kind, raw)
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **decoded}
