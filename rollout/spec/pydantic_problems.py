"""Turning pydantic's validation errors into one clear ``Problem`` per mistake.

Pydantic reports locations as tuples and messages written for programmers; users need
``spec.steps[2].setWeight`` with the line it is on, and a "did you mean" hint when an
unknown field is a near miss of a real one.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from rollout.spec.problems import Problem, did_you_mean
from rollout.spec.yamldocs import Document, FieldPath

__all__ = ["format_field", "problems_from"]


def format_field(field_path: FieldPath) -> str:
    """``("spec", "steps", 2, "setWeight")`` -> ``spec.steps[2].setWeight``."""
    text = ""
    for part in field_path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (list, tuple, dict, typing.Union, types.UnionType):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
        return found
    return []


def _field_names(model: type[BaseModel], path: FieldPath) -> list[str]:
    """The YAML names of the fields allowed at ``path`` inside ``model``."""
    current: list[type[BaseModel]] = [model]
    for part in path:
        if isinstance(part, int):
            continue
        following: list[type[BaseModel]] = []
        for candidate in current:
            for name, field in candidate.model_fields.items():
                if part in (name, field.alias):
                    following.extend(_models_in(field.annotation))
        current = following
        if not current:
            return []
    names: list[str] = []
    for candidate in current:
        names.extend(field.alias or name for name, field in candidate.model_fields.items())
    return names


def _message(error: Any, model: type[BaseModel], location: FieldPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        unknown = str(location[-1]) if location else "?"
        hint = did_you_mean(unknown, _field_names(model, location[:-1]))
        return f"unknown field{hint}"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"{error['msg'].replace('Input should be', 'must be')}, got {error['input']!r}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    if message.startswith("Input should be "):
        message = "must be " + message[len("Input should be ") :]
    elif message.startswith("String should "):
        message = "must " + message[len("String should ") :]
    elif message.startswith("List should "):
        message = "must " + message[len("List should ") :]
    if "input" in error and not isinstance(error["input"], dict | list):
        message = f"{message}, got {error['input']!r}"
    return message


def _clean_location(raw: tuple[Any, ...]) -> FieldPath:
    """Drop pydantic's union-branch and validator markers from a location."""
    location: list[str | int] = []
    for part in raw:
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        location.append(part)
    return tuple(location)


def problems_from(
    error: ValidationError, document: Document, model: type[BaseModel]
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for item in error.errors():
        location = _clean_location(item["loc"])
        field = format_field(location)
        message = _message(item, model, location)
        if (field, message) in seen:
            continue
        seen.add((field, message))
        problems.append(Problem(document.path, document.line_of(location), field, message))
    return problems
