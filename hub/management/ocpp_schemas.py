"""The ``ocpp`` package's JSON schemas of OCPP requests and answers, as OpenAPI 3.1 schemas.

The package's schemas are draft-06 documents with ``#/definitions/...`` references; inside the
OpenAPI document a reference would resolve against the document, so definitions are inlined
(OCPP message schemas are not recursive) and generator-only keywords are dropped.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from ocpp.messages import MessageType, get_validator

_DROPPED = frozenset({"$schema", "$id", "comment", "javaType", "definitions",
                      "additionalItems"})


def _inline(node: Any, definitions: dict[str, Any], depth: int = 0) -> Any:
    if depth > 40:
        raise ValueError("schema nests too deeply (recursive definition?)")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            return _inline(definitions[ref.rsplit("/", 1)[-1]], definitions, depth + 1)
        return {k: _inline(v, definitions, depth + 1) for k, v in node.items()
                if k not in _DROPPED}
    if isinstance(node, list):
        return [_inline(item, definitions, depth + 1) for item in node]
    return node


@functools.cache
def _schema(version: str, action: str, answer: bool) -> dict[str, Any]:
    message_type = MessageType.CallResult if answer else MessageType.Call
    raw = get_validator(message_type, action, version).schema
    return _inline(raw, raw.get("definitions", {}))  # type: ignore[no-any-return]


def ocpp_schema(versions: tuple[str, ...], action: str, *, answer: bool = False
                ) -> dict[str, Any]:
    """The request (or answer) schema of ``action``; one per version, as ``anyOf`` when the
    action is sent to stations of more than one version."""
    schemas = [copy.deepcopy(_schema(v, action, answer)) for v in versions]
    if len(schemas) == 1:
        return schemas[0]
    for version, schema in zip(versions, schemas, strict=True):
        schema["title"] = f"OCPP {version}"
    return {"anyOf": schemas}
