"""The one OCPP payload codec: how a payload on the wire (camelCase JSON) and the hub's Python
side (snake_case keyword arguments, the ``ocpp`` package's dataclasses) turn into each other.

Core ``@on`` handlers take snake_case keyword arguments (``handler_kwargs``) and answer with a
dataclass (``payload_of``); feature handlers and callers that already hold a camelCase payload
keep it as it is (``StationSession.call_payload``, ``hub.commands.Commands.send_payload``): no
round trip through dataclasses. Values a station sends as opaque data (DataTransfer ``data``)
reach the handler as sent, their keys not renamed.
"""

from __future__ import annotations

from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

_snake_keys: dict[str, str] = {}
_camel_keys: dict[str, str] = {}

# Fields whose value is the sender's own JSON, given to handlers untouched (action -> field).
OPAQUE_FIELDS: dict[str, tuple[str, str]] = {"DataTransfer": ("data", "data")}


def to_snake(data: Any) -> Any:
    """camelCase keys -> snake_case, with the ``ocpp`` package's rules, memoised per key.

    Only dicts and lists are descended into: a call per scalar value (most of a MeterValues
    payload) cost more than the conversion itself (12 -> 3.5 us for a 1.6 MeterValues)."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            snake = _snake_keys.get(key)
            if snake is None:
                snake = _snake_keys[key] = next(iter(camel_to_snake_case({key: None})))
            out[snake] = value if type(value) not in _NESTED else to_snake(value)
        return out
    if isinstance(data, list):
        return [item if type(item) not in _NESTED else to_snake(item) for item in data]
    return data


# What a parsed JSON payload nests (json.loads makes exactly these types).
_NESTED = frozenset({dict, list})


def to_camel(data: Any) -> Any:
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            camel = _camel_keys.get(key)
            if camel is None:
                camel = _camel_keys[key] = next(iter(snake_to_camel_case({key: None})))
            out[camel] = to_camel(value)
        return out
    if isinstance(data, list):
        return [to_camel(item) for item in data]
    return data


def payload_of(dataclass_instance: Any) -> dict[str, Any]:
    """An ``ocpp`` payload dataclass as the camelCase dict that goes on the wire: what
    ``to_camel(remove_nones(serialize_as_dict(...)))`` gives, in one pass (the package's
    ``asdict`` deep-copies every value first)."""
    return _wire(dataclass_instance)


def _wire(value: Any) -> Any:
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None and not isinstance(value, type):
        items: Any = ((name, getattr(value, name)) for name in fields)
    elif isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        return [_wire(item) for item in value if item is not None]
    else:
        return value
    out = {}
    for name, item in items:
        if item is not None:
            camel = _camel_keys.get(name)
            if camel is None:
                camel = _camel_keys[name] = next(iter(snake_to_camel_case({name: None})))
            out[camel] = _wire(item)
    return out


def handler_kwargs(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A CALL's camelCase payload as a core handler's snake_case keyword arguments."""
    kwargs: dict[str, Any] = to_snake(payload)
    opaque = OPAQUE_FIELDS.get(action)
    if opaque is not None and opaque[0] in payload:
        kwargs[opaque[1]] = payload[opaque[0]]
    return kwargs


def request_of(module: Any, action: str, payload: dict[str, Any]) -> Any:
    """The ``ocpp`` request dataclass (``module``: ``ocpp.v16.call`` or ``ocpp.v201.call``) of a
    camelCase payload."""
    return getattr(module, action)(**to_snake(payload))


def result_of(result_cls: type, payload: dict[str, Any]) -> Any:
    """The ``ocpp`` answer dataclass of a camelCase answer (fields the class lacks dropped)."""
    fields = result_cls.__dataclass_fields__  # type: ignore[attr-defined]
    return result_cls(**{k: v for k, v in to_snake(payload).items() if k in fields})
