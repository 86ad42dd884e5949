"""Shared pydantic configuration for every spec model: strict, camelCase, no unknown fields."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from rollout.spec.durations import parse_duration

__all__ = ["DnsLabel", "DnsSubdomain", "Duration", "ObjectMeta", "SpecModel", "seconds"]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


class SpecModel(BaseModel):
    """Base of all spec models: unknown fields are errors, YAML keys are camelCase."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        str_strip_whitespace=True,
    )


def _dns1123_label(value: str) -> str:
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters (DNS-1123)"
        )
    return value


def _dns1123_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: lower-case letters, digits, '-' and '.', "
            "at most 253 characters (DNS-1123 subdomain)"
        )
    return value


def _duration(value: str | int | float) -> str | int | float:
    parse_duration(value)
    return value


DnsLabel = Annotated[str, AfterValidator(_dns1123_label)]
DnsSubdomain = Annotated[str, AfterValidator(_dns1123_subdomain)]
Duration = Annotated[str | int, AfterValidator(_duration)]


def seconds(value: str | int | float) -> float:
    """Seconds of a validated ``Duration`` field."""
    return parse_duration(value)


class ObjectMeta(SpecModel):
    """The part of Kubernetes metadata a spec may carry."""

    name: DnsSubdomain
    namespace: DnsLabel = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
