"""Examples for the OpenAPI document, derived from the schemas themselves.

A route that gives no example of its own gets one built from its schema: the ``examples``,
``default``, ``const`` or first ``enum`` value of each part, else a value of the right type. The
document test checks every example against its schema, so a schema whose derived example would
be wrong (a ``pattern``, say) needs an ``examples`` value of its own.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_BY_FORMAT = {
    "date-time": "2026-01-15T09:30:00Z",
    "date": "2026-01-15",
    "uri": "https://hub.example.com/path",
    "email": "ops@example.com",
    "ipv4": "192.0.2.10",
    "uuid": "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b",
}
_MAX_DEPTH = 30
# Deeper than this, arrays are shown empty (recursive schemas such as the fuse tree end).
_ARRAY_DEPTH = 12


def example_of(schema: Any, components: dict[str, Schema], depth: int = 0) -> Any:
    """A value that ``schema`` accepts (as far as these rules go), for documentation."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example_of(components.get(name, {}), components, depth + 1)
    for key in ("examples",):
        if schema.get(key):
            return schema[key][0]
    for key in ("example", "const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    for key in ("oneOf", "anyOf", "allOf"):
        if schema.get(key):
            return _first_of(schema[key], key, components, depth)
    return _by_type(schema, _main_type(schema), components, depth)


def _first_of(options: list[Any], key: str, components: dict[str, Schema], depth: int) -> Any:
    if key != "allOf":
        return example_of(options[0], components, depth + 1)
    merged: dict[str, Any] = {}
    for option in options:
        value = example_of(option, components, depth + 1)
        if isinstance(value, dict):
            merged.update(value)
    return merged


def _main_type(schema: Schema) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        kind = "object"
    return kind


def _by_type(schema: Schema, kind: str | None, components: dict[str, Schema],
             depth: int) -> Any:
    if kind == "object":
        properties = schema.get("properties", {})
        out = {name: example_of(sub, components, depth + 1) for name, sub in properties.items()}
        if not properties and isinstance(schema.get("additionalProperties"), dict):
            out["key"] = example_of(schema["additionalProperties"], components, depth + 1)
        return out
    if kind == "array":
        if depth >= _ARRAY_DEPTH and not schema.get("minItems"):
            return []
        return [example_of(schema.get("items", {}), components, depth + 1)]
    if kind in ("integer", "number"):
        value = max(1, schema.get("minimum", 1))
        value = min(value, schema.get("maximum", value))
        return value if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "string":
        value = _BY_FORMAT.get(schema.get("format", ""), "text")
        value = value.ljust(schema.get("minLength", 0), "x")
        return value[:schema["maxLength"]] if "maxLength" in schema else value
    if kind == "null":
        return None
    return {}


def fill_examples(document: dict[str, Any]) -> None:
    """Give every JSON request body and answer of ``document`` an example (in place)."""
    components = document.get("components", {}).get("schemas", {})
    for methods in document["paths"].values():
        for op in methods.values():
            contents = [op.get("requestBody", {}).get("content", {})]
            contents += [r.get("content", {}) for r in op.get("responses", {}).values()]
            for content in contents:
                for media_type, media in content.items():
                    if "example" in media or "examples" in media or "schema" not in media:
                        continue
                    if media_type.endswith("json"):
                        media["example"] = example_of(media["schema"], components)


__all__ = ["example_of", "fill_examples"]
