"""What crosses nodes, as bytes: routed commands (an ``ocpp`` request dataclass and its answer
or typed failure) and domain events (``hub.events``).

Only classes of the ``ocpp`` package's call / call_result modules and of ``hub.events`` are
rebuilt from a message: a peer names a class, it never makes this node import anything else.
"""

from __future__ import annotations

import dataclasses
import importlib
from datetime import datetime
from typing import Any

import orjson
from ocpp.charge_point import serialize_as_dict

from hub import events
from hub.commands import CallError, CallTimeout, CommandFailed, StationOffline

_CALL_MODULES = frozenset({"ocpp.v16.call", "ocpp.v201.call"})
_RESULT_MODULES = frozenset({"ocpp.v16.call_result", "ocpp.v201.call_result"})
_EVENT_TYPES: dict[str, type[events.Event]] = {
    name: cls for name, cls in vars(events).items()
    if isinstance(cls, type) and issubclass(cls, events.Event) and cls is not events.Event}


class MessageRefused(ValueError):
    """A peer's message names something this node does not rebuild."""


def _dataclass_of(module: str, name: str, allowed: frozenset[str]) -> type:
    if module not in allowed:
        raise MessageRefused(f"module {module!r} is not an OCPP message module")
    cls = getattr(importlib.import_module(module), name, None)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise MessageRefused(f"{module}.{name} is not an OCPP message")
    return cls


def _describe(instance: Any) -> dict[str, Any]:
    cls = type(instance)
    return {"module": cls.__module__, "class": cls.__qualname__,
            "fields": serialize_as_dict(instance)}


def _rebuild(described: dict[str, Any], allowed: frozenset[str]) -> Any:
    cls = _dataclass_of(str(described["module"]), str(described["class"]), allowed)
    try:
        return cls(**described["fields"])
    except TypeError as exc:
        raise MessageRefused(f"{cls.__qualname__}: {exc}") from None


# -- routed commands ---------------------------------------------------------------------------

def encode_call(station_id: str, request: Any, timeout: float) -> bytes:
    return orjson.dumps({"station": station_id, "timeout": timeout,
                         "request": _describe(request)})


def decode_call(data: bytes) -> tuple[str, Any, float]:
    """(station id, request dataclass, timeout) of a routed command."""
    try:
        message = orjson.loads(data)
        return (str(message["station"]), _rebuild(message["request"], _CALL_MODULES),
                float(message["timeout"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MessageRefused(f"malformed routed command: {exc}") from None


def encode_answer(response: Any) -> bytes:
    return orjson.dumps({"ok": _describe(response)})


def encode_failure(error: Exception) -> bytes:
    if isinstance(error, CallTimeout):
        body: dict[str, Any] = {"kind": "timeout", "action": error.action,
                                "timeout": error.timeout}
    elif isinstance(error, CallError):
        body = {"kind": "call_error", "action": error.action, "code": error.code,
                "description": error.description, "details": error.details}
    elif isinstance(error, StationOffline):
        body = {"kind": "offline"}
    else:
        body = {"kind": "failed", "message": str(error)}
    return orjson.dumps({"error": body})


def decode_answer(station_id: str, data: bytes) -> Any:
    """The response dataclass, or raise the failure the holder reported (same types)."""
    message = orjson.loads(data)
    if "ok" in message:
        return _rebuild(message["ok"], _RESULT_MODULES)
    error = message.get("error") or {}
    kind = error.get("kind")
    if kind == "timeout":
        raise CallTimeout(station_id, error["action"], float(error["timeout"]))
    if kind == "call_error":
        raise CallError(station_id, error["action"], error["code"], error["description"],
                        error.get("details") or {})
    if kind == "offline":
        raise StationOffline(station_id)
    raise CommandFailed(f"station {station_id}: {error.get('message', 'the command failed')}")


# -- events ------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    return value


def _typed(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$dt"}:
        return datetime.fromisoformat(value["$dt"])
    if isinstance(value, list):
        return tuple(value)
    return value


def encode_event(origin: str, event: events.Event) -> bytes:
    fields = {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return orjson.dumps({"origin": origin, "type": type(event).__name__, "fields": fields})


def decode_event(data: bytes) -> tuple[str, events.Event]:
    """(origin node, event) of a cross-node event."""
    try:
        message = orjson.loads(data)
        cls = _EVENT_TYPES.get(message["type"])
        if cls is None:
            raise MessageRefused(f"unknown event type {message['type']!r}")
        fields = {k: _typed(v) for k, v in message["fields"].items()}
        return str(message["origin"]), cls(**fields)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MessageRefused(f"malformed event: {exc}") from None
