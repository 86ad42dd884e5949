"""The routing a rollout asks for beyond weights: a header route, a mirror, sticky sessions.

Argo Rollouts has ``setHeaderRoute`` and ``setMirrorRoute`` steps, Flagger A/B matches and
session affinity; this module holds ours, as spec models checked without a cluster:

- ``setHeaderRoute`` (a step): requests matching every given header (exact, prefix or
  regex) and the cookie, if given, go to the canary, ahead of the weighted route. A step
  with no header and no cookie removes the header route.
- ``setMirror`` (a step): a percentage of the live traffic is copied to the canary, its
  responses discarded; ``percent: 0`` stops mirroring. The canary's metrics then count the
  mirrored requests, so the analysis judges it on them.
- ``traffic.sessionAffinity``: while a canary has traffic, every response sets a cookie
  naming the version that answered, and requests carrying it go back to that version, so a
  user does not flip between versions as the weights rise.

The router turns these into routes it manages and removes them when the rollout ends
(:mod:`rollout.mesh.istio_extras`). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field, field_validator, model_validator

from rollout.spec.base import Duration, SpecModel

if TYPE_CHECKING:
    from rollout.spec.rollout import Rollout

__all__ = [
    "BlueGreen",
    "CookieMatch",
    "HeaderRoute",
    "MirrorStep",
    "Routing",
    "SessionAffinity",
    "StringMatch",
    "routing_after",
    "routing_at",
    "with_blue_green_steps",
]

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
"""An HTTP token (RFC 9110): what a header or cookie name may be made of."""
_COOKIE_VALUE = re.compile(r"^[!#-+\--:<-\[\]-~]*$")
"""Cookie value characters (RFC 6265): no space, quote, comma, semicolon or backslash."""
_RESERVED_HEADERS = {"host", "cookie", ":authority", ":path", ":method"}


def _token(kind: str, value: str) -> str:
    if not value or len(value) > 256 or not _TOKEN.match(value):
        raise ValueError(f"{value!r} is not a valid {kind} name (an HTTP token)")
    return value


class StringMatch(SpecModel):
    """Exactly one of ``exact``, ``prefix`` or ``regex`` (RE2 syntax, as Envoy reads it)."""

    exact: str | None = Field(None, max_length=1024)
    prefix: str | None = Field(None, max_length=1024)
    regex: str | None = Field(None, max_length=1024)

    @model_validator(mode="after")
    def _exactly_one(self) -> StringMatch:
        given = [name for name in ("exact", "prefix", "regex") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "a header match needs exactly one of exact, prefix or regex"
                + (f", got {', '.join(given)}" if given else "")
            )
        if self.regex is not None:
            _check_regex(self.regex)
        return self

    def as_istio(self) -> dict[str, str]:
        """Istio's (and the stack's) StringMatch: ``{"exact": ...}`` and so on."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


def _check_regex(pattern: str) -> None:
    """Refuse what Python cannot compile, and look-arounds and back-references, which
    RE2 (Envoy's and Istio's engine) has not."""
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"regex {pattern!r} does not compile: {error}") from None
    if re.search(r"\(\?[=!<]|\\[1-9]", pattern):
        raise ValueError(
            f"regex {pattern!r} uses look-arounds or back-references, which RE2 does not have"
        )


class CookieMatch(SpecModel):
    """A cookie with this exact value."""

    name: str
    value: str = Field(min_length=1, max_length=1024)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _token("cookie", value)

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        if not _COOKIE_VALUE.match(value):
            raise ValueError(f"{value!r} is not a valid cookie value")
        return value

    def as_header_match(self) -> StringMatch:
        """The ``cookie`` header matched by a regex: this cookie among any others."""
        name, value = re.escape(self.name), re.escape(self.value)
        return StringMatch(regex=f"^(.*;\\s*)?{name}={value}(;.*)?$")


class HeaderRoute(SpecModel):
    """The ``setHeaderRoute`` step: matching requests go to the canary."""

    headers: dict[str, StringMatch] = Field(default_factory=dict, max_length=16)
    cookie: CookieMatch | None = None

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, StringMatch]) -> dict[str, StringMatch]:
        lowered: dict[str, StringMatch] = {}
        for name, match in value.items():
            _token("header", name)
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} cannot be matched here (use cookie for cookies)")
            if name.lower() in lowered:
                raise ValueError(f"header {name!r} is given twice")
            lowered[name.lower()] = match
        return lowered

    @property
    def removes(self) -> bool:
        """No header and no cookie: the step removes the header route."""
        return not self.headers and self.cookie is None

    def matches(self) -> dict[str, StringMatch]:
        """Every header condition, the cookie as a ``cookie`` header regex."""
        found = dict(self.headers)
        if self.cookie is not None:
            found["cookie"] = self.cookie.as_header_match()
        return found

    def describe(self) -> str:
        if self.removes:
            return "remove the header route"
        parts = [
            f"{name} {kind} {value!r}"
            for name, match in self.headers.items()
            for kind, value in match.as_istio().items()
        ]
        if self.cookie is not None:
            parts.append(f"cookie {self.cookie.name}={self.cookie.value}")
        return "send requests with " + " and ".join(parts) + " to the canary"


class MirrorStep(SpecModel):
    """The ``setMirror`` step: copy ``percent`` of the live traffic to the canary."""

    percent: float = Field(ge=0, le=100)

    def describe(self) -> str:
        if not self.percent:
            return "stop mirroring"
        return f"mirror {self.percent:g}% of the traffic to the canary (responses discarded)"


class SessionAffinity(SpecModel):
    """Sticky sessions: while a canary has traffic, a cookie keeps each user on the version
    that first answered them."""

    cookie_name: str = "rollout-version"
    max_age: Duration = "1h"

    @field_validator("cookie_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _token("cookie", value)


@dataclasses.dataclass(frozen=True)
class Routing:
    """The managed routing in force for a canary: what the steps done so far set up.

    Absolute, as weights are: the router makes the routes carry exactly this, adding what
    is missing and removing what is no longer asked for.
    """

    header_route: HeaderRoute | None = None
    mirror_percent: float = 0.0
    affinity: SessionAffinity | None = None

    @property
    def empty(self) -> bool:
        return self.header_route is None and not self.mirror_percent and self.affinity is None


class _RoutingStep(Protocol):
    @property
    def set_header_route(self) -> HeaderRoute | None: ...

    @property
    def set_mirror(self) -> MirrorStep | None: ...


def routing_at(rollout: Rollout, step_index: int) -> Routing:
    """The routing in force once the rollout's steps before ``step_index`` are done."""
    steps = rollout.spec.steps[: max(0, step_index)]
    return routing_after(steps, rollout.spec.traffic.session_affinity)


def routing_after(steps: Iterable[_RoutingStep], affinity: SessionAffinity | None) -> Routing:
    """The routing in force once ``steps`` are done: the last header route and mirror set."""
    header: HeaderRoute | None = None
    mirror = 0.0
    for step in steps:
        if step.set_header_route is not None:
            header = None if step.set_header_route.removes else step.set_header_route
        if step.set_mirror is not None:
            mirror = step.set_mirror.percent
    return Routing(header_route=header, mirror_percent=mirror, affinity=affinity)


class BlueGreen(SpecModel):
    """Blue/green: the new version gets no live traffic, only the requests matching the
    preview route, and is analysed on them; then all traffic switches to it at once (0 to
    100), and the old version stays stable for the rollback window, where a failing check
    switches everything back at once; then the new version is promoted.

    The rollout's steps are made from it (a spec gives ``blueGreen`` or ``steps``):
    ``setHeaderRoute`` (the preview), ``analyze`` (``previewAnalysis``), ``setWeight: 100``
    (given only on a promotable verdict) and ``analyze`` (``rollbackWindow``).
    """

    preview: HeaderRoute = Field(
        default_factory=lambda: HeaderRoute(headers={"x-preview": StringMatch(exact="true")})
    )
    preview_analysis: Duration = "1m"
    rollback_window: Duration = "5m"

    @field_validator("preview")
    @classmethod
    def _preview_matches(cls, value: HeaderRoute) -> HeaderRoute:
        if value.removes:
            raise ValueError("the preview route needs a header or a cookie to match")
        return value

    def step_documents(self) -> list[dict[str, Any]]:
        preview = self.preview.model_dump(by_alias=True, exclude_none=True)
        return [
            {"setHeaderRoute": preview},
            {"analyze": {"duration": self.preview_analysis}},
            {"setWeight": 100},
            {"analyze": {"duration": self.rollback_window}},
        ]


def with_blue_green_steps(data: Any, parse: Any) -> Any:
    """A raw spec with ``blueGreen``: its steps filled in from it. Steps given as well must
    be the same (a spec read back from the cluster carries both); otherwise an error."""
    if not isinstance(data, dict) or not isinstance(data.get("blueGreen"), dict):
        return data
    try:
        expansion = BlueGreen.model_validate(data["blueGreen"]).step_documents()
    except ValueError:
        return data  # the blueGreen field's own validation reports it
    given = data.get("steps")
    if given is not None:
        try:
            same = [parse(step) for step in given] == [parse(step) for step in expansion]
        except (TypeError, ValueError):
            same = False
        if not same:
            raise ValueError("blueGreen makes the steps itself: give blueGreen or steps, not both")
    return {**data, "steps": expansion}
