"""Label and field selectors, parsed and matched as the real server does.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a``,
``!a``, joined by commas (an AND). Field selectors: ``path=value``, ``path==value`` and
``path!=value`` on dotted paths the resource allows (``metadata.name`` and
``metadata.namespace`` everywhere, more for some built-ins); an unknown field is a 400
BadRequest, as on a cluster. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubelite import status

__all__ = ["Matcher", "match_all", "parse_field_selector", "parse_label_selector"]

JsonObject = dict[str, Any]
Matcher = Callable[[JsonObject], bool]

_SET_TERM = re.compile(r"^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$")
_EQUALITY_TERM = re.compile(r"^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$")
_EXISTS_TERM = re.compile(r"^(!?)\s*([^\s!=(),]+)$")


def _split_terms(selector: str) -> list[str]:
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    terms.append("".join(current).strip())
    return [term for term in terms if term]


def _labels_of(obj: JsonObject) -> dict[str, str]:
    labels = obj.get("metadata", {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def _label_term(term: str) -> Matcher:
    if match := _SET_TERM.match(term):
        key, operator, raw_values = match.groups()
        values = {v.strip() for v in raw_values.split(",") if v.strip()}
        if operator == "in":
            return lambda obj: _labels_of(obj).get(key) in values
        return lambda obj: _labels_of(obj).get(key) not in values
    if match := _EQUALITY_TERM.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda obj: _labels_of(obj).get(key) != value
        return lambda obj: _labels_of(obj).get(key) == value
    if match := _EXISTS_TERM.match(term):
        negated, key = match.groups()
        if negated:
            return lambda obj: key not in _labels_of(obj)
        return lambda obj: key in _labels_of(obj)
    raise status.bad_request(f"unable to parse requirement: {term!r}")


def parse_label_selector(selector: str) -> list[Matcher]:
    """One matcher per comma-separated requirement; all must hold."""
    return [_label_term(term) for term in _split_terms(selector)]


def _field_value(obj: JsonObject, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_matcher(path: str, value: str, *, negated: bool) -> Matcher:
    def matches(obj: JsonObject) -> bool:
        return (_field_value(obj, path) == value) != negated

    return matches


def parse_field_selector(selector: str, *, allowed: tuple[str, ...]) -> list[Matcher]:
    """Matchers for ``path=value`` terms; a path outside ``allowed`` is a 400."""
    matchers: list[Matcher] = []
    for term in _split_terms(selector):
        match = re.match(r"^([^!=]+?)\s*(==|=|!=)\s*(.*)$", term)
        if not match:
            raise status.bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        path, operator, value = match.group(1).strip(), match.group(2), match.group(3).strip()
        if path not in allowed:
            quoted = ", ".join(f'"{name}"' for name in allowed)
            raise status.bad_request(f'"{path}" is not a known field selector: only {quoted}')
        matchers.append(_field_matcher(path, value, negated=operator == "!="))
    return matchers


def match_all(matchers: list[Matcher], obj: JsonObject) -> bool:
    return all(matcher(obj) for matcher in matchers)
