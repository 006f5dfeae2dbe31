"""A small declarative validator for JSON bodies: one spec gives both the 400 naming the field
and the OpenAPI schema of the body, so the two cannot drift apart."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.errors import bad_request

# Kinds: str, int, number, bool, numbers (list of numbers), object, array (validated by caller).
_JSON_TYPES = {"str": "string", "int": "integer", "number": "number", "bool": "boolean",
               "numbers": "array", "object": "object", "array": "array"}


@dataclass(frozen=True)
class F:
    kind: str
    required: bool = False
    nullable: bool = True
    max_len: int | None = None
    min_len: int = 0
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    pattern: re.Pattern[str] | None = None
    # Extra check: returns an error text, or None when the value is fine.
    check: Callable[[Any], str | None] | None = None
    # Accepted on input and ignored (read-only fields a client may echo back).
    ignored: bool = False
    description: str = ""
    # JSON schema of the items of an "array" / properties of an "object" (for OpenAPI only).
    items: dict[str, Any] | None = None
    # A value for the OpenAPI example (where one derived from the type would not do).
    example: Any = None


def field_name(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def parse(body: Any, spec: Mapping[str, F], where: str = "", *, partial: bool = False
          ) -> dict[str, Any]:
    """Validate ``body`` against ``spec``; return the known, non-ignored fields present.

    Unknown fields are refused (a typo must not be silently dropped). With ``partial`` (PATCH)
    required fields may be absent.
    """
    if not isinstance(body, dict):
        raise bad_request(where or "body", "must be a JSON object")
    for name in body:
        if name not in spec:
            raise bad_request(field_name(where, name), "unknown field")
    out: dict[str, Any] = {}
    for name, f in spec.items():
        if name not in body:
            if f.required and not partial:
                raise bad_request(field_name(where, name), "is required")
            continue
        if f.ignored:
            continue
        out[name] = check_value(body[name], f, field_name(where, name))
    return out


def check_value(value: Any, f: F, name: str) -> Any:
    if value is None:
        if f.nullable and not f.required:
            return None
        raise bad_request(name, "must not be null")
    kind = f.kind
    if kind == "str":
        if not isinstance(value, str):
            raise bad_request(name, "must be a string")
        value = value.strip()
        if len(value) < max(f.min_len, 1 if f.required else 0):
            raise bad_request(name, "must not be empty")
        if f.max_len is not None and len(value) > f.max_len:
            raise bad_request(name, f"must be at most {f.max_len} characters")
        if f.pattern is not None and not f.pattern.match(value):
            raise bad_request(name, f"does not match {f.pattern.pattern}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(name, "must be an integer")
        _range(value, f, name)
    elif kind == "number":
        value = _number(value, name)
        _range(value, f, name)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise bad_request(name, "must be true or false")
    elif kind == "numbers":
        if not isinstance(value, list) or len(value) > 100:
            raise bad_request(name, "must be an array of at most 100 numbers")
        value = [_number(v, f"{name}[{i}]") for i, v in enumerate(value)]
        for i, v in enumerate(value):
            _range(v, f, f"{name}[{i}]")
    elif kind == "object":
        if not isinstance(value, dict):
            raise bad_request(name, "must be an object")
    elif kind == "array":
        if not isinstance(value, list):
            raise bad_request(name, "must be an array")
    if f.choices is not None and value not in f.choices:
        raise bad_request(name, "must be one of " + ", ".join(map(str, f.choices)))
    if f.check is not None:
        problem = f.check(value)
        if problem:
            raise bad_request(name, problem)
    return value


def _number(value: Any, name: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(name, "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise bad_request(name, "must be a finite number")
    return value


def _range(value: float, f: F, name: str) -> None:
    if f.minimum is not None and value < f.minimum:
        raise bad_request(name, f"must be >= {f.minimum:g}")
    if f.maximum is not None and value > f.maximum:
        raise bad_request(name, f"must be <= {f.maximum:g}")


def json_schema(spec: Mapping[str, F], *, partial: bool = False) -> dict[str, Any]:
    """The OpenAPI (JSON schema 2020-12) description of a body validated by ``spec``."""
    properties: dict[str, Any] = {}
    required = []
    for name, f in spec.items():
        prop: dict[str, Any] = {"type": _JSON_TYPES[f.kind]}
        if f.kind == "numbers":
            prop["items"] = {"type": "number"}
        if f.items is not None:
            prop.update(f.items)
        if f.nullable and not f.required:
            prop["type"] = [prop["type"], "null"]
        if f.max_len is not None:
            prop["maxLength"] = f.max_len
        if f.minimum is not None:
            prop["minimum"] = f.minimum
        if f.maximum is not None:
            prop["maximum"] = f.maximum
        if f.choices is not None:
            prop["enum"] = list(f.choices)
        if f.pattern is not None:
            prop["pattern"] = f.pattern.pattern
        if f.example is not None:
            prop["examples"] = [f.example]
        if f.ignored:
            prop["description"] = "read-only; accepted and ignored"
        elif f.description:
            prop["description"] = f.description
        properties[name] = prop
        if f.required and not partial:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema
