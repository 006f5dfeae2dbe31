"""StationSession: one live OCPP-J connection, built on the ``ocpp`` package's ChargePoint.

Version-specific subclasses (``StationSession16``) declare their handlers with the package's
``@on`` / ``@after`` decorators and its payload dataclasses. This base class replaces the
package's message loop where the hub needs more than it offers:

- every malformed frame is answered with the CALLERROR the OCPP-J spec gives (the package only
  logs frames it cannot parse), in the version's own spelling;
- schema validation runs inline with cached validators instead of a thread-pool hop per message;
- the route map is built once per class, not per connection (memory per held station);
- a feature may answer an action instead of the core (``Hub.handle_action``);
- outgoing calls are matched to answers by unique id, one in flight at a time, with typed errors;
- every frame goes to the message log queue and every call to the action metrics.

Handlers must not await a command to their own station (the read loop would be waiting for
itself); work that needs to talk back goes in an ``@after`` hook, which runs as a task.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web
from ocpp.charge_point import (
    ChargePoint,
    camel_to_snake_case,
    snake_to_camel_case,
)
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, MessageType, _DecimalEncoder
from ocpp.routing import create_route_map

from hub import commands
from hub.context import ActionHandler, Hub
from hub.db.base import utcnow
from hub.ocpp_server.framing import FrameError, parse_frame, validate

log = logging.getLogger(__name__)


class InvalidRequest(ValueError):
    """A command the hub was asked to send does not match the OCPP schema."""

    def __init__(self, action: str, error: FrameError) -> None:
        super().__init__(f"invalid {action} request: {error.description}")
        self.action = action
        self.field = (error.details or {}).get("field")


# How a CallError for an answer that failed the schema begins (session21 tells it apart).
INVALID_ANSWER = "invalid answer: "
_snake_keys: dict[str, str] = {}
_camel_keys: dict[str, str] = {}


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


# One encoder for every answer (json.dumps with cls= builds one per call); the ``ocpp``
# package's, so a Decimal is written as the package writes it.
_ENCODER = _DecimalEncoder(separators=(",", ":"))


def call_result_frame(unique_id: str, payload: dict[str, Any]) -> str:
    """``CallResult(unique_id, payload).to_json()``, with the shared encoder."""
    return _ENCODER.encode([MessageType.CallResult, unique_id, payload])


class StationSession(ChargePoint):
    ocpp_version: ClassVar[str]
    subprotocol: ClassVar[str]
    # Generic (OCPP 2.0.1) error code -> this version's spelling.
    error_codes: ClassVar[dict[str, str]] = {}
    # Every action of this version, to tell NotImplemented from NotSupported.
    known_actions: ClassVar[frozenset[str]] = frozenset()
    # The version whose services, features and command effects this one shares, when it
    # speaks a newer version of the same messages (2.1 -> "2.0.1"); "" for itself.
    service_version: ClassVar[str] = ""
    _class_routes: ClassVar[dict[type, dict[str, dict[str, Any]]]] = {}

    def __init__(self, station_id: str, ws: web.WebSocketResponse, hub: Hub,
                 remote: str | None = None) -> None:
        # ChargePoint.__init__ is not called on purpose: it builds a route map of bound methods
        # and a response queue per connection; we share one route map per class and match
        # answers by id (see call()).
        self.id = station_id
        self.hub = hub
        self.ws = ws
        self.remote = remote
        self.logger = log
        self._response_timeout = hub.config.ocpp.call_timeout
        self._call_lock = asyncio.Lock()
        self._pending: dict[str, tuple[str, asyncio.Future[CallResult | CallError]]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        # Work a feature handler asked to run once the answer of the current call is sent.
        self._after_answer: list[Callable[[], Awaitable[Any]]] = []
        self.connected_at: datetime = utcnow()
        # Wall-clock seconds of the last frame; heartbeats only move this (no database write).
        self.last_seen: float = time.time()
        self.messages_in = 0
        self.messages_out = 0
        self.booted = False
        self.closed = False
        # Set by the endpoint from the stations table: Accepted, Pending or Rejected.
        self.registration_status = "Accepted"

    # -- routing -------------------------------------------------------------------------

    @classmethod
    def routes(cls) -> dict[str, dict[str, Any]]:
        routes = cls._class_routes.get(cls)
        if routes is None:
            routes = cls._class_routes[cls] = create_route_map(cls)
        return routes

    def code(self, generic: str) -> str:
        return self.error_codes.get(generic, generic)

    async def route_message(self, raw: str | bytes) -> None:
        """Handle one incoming frame; never raises."""
        started = time.perf_counter()
        self.messages_in += 1
        self.last_seen = time.time()
        try:
            msg = parse_frame(raw, self.hub.config.ocpp.max_frame_bytes)
        except FrameError as error:
            self._log_frame("in", 0, error.unique_id, None, raw)
            await self._send_call_error(error.unique_id, error.code, error.description,
                                        error.details)
            self.hub.metrics.record("in", "(malformed)", time.perf_counter() - started,
                                    error.code)
            return

        if isinstance(msg, Call):
            self._log_frame("in", MessageType.Call, msg.unique_id, msg.action, raw)
            await self._handle_call(msg, started)
            return

        pending = self._pending.pop(msg.unique_id, None)
        self._log_frame("in", msg.message_type_id, msg.unique_id,
                        pending[0] if pending else None, raw)
        if pending is None:
            log.info("%s: answer %s matches no call in flight; ignored", self.id, msg.unique_id)
        elif not pending[1].done():
            pending[1].set_result(msg)

    async def _handle_call(self, msg: Call, started: float) -> None:
        error_code: str | None = None
        self._after_answer.clear()
        try:
            payload, after = await self._dispatch(msg)
        except FrameError as error:
            error_code = error.code
            await self._send_call_error(msg.unique_id, error.code, error.description,
                                        error.details)
        except OCPPError as error:
            error_code = error.code
            await self._send_call_error(msg.unique_id, error.code, error.description,
                                        error.details if isinstance(error.details, dict) else None)
        except Exception as error:
            error_code = "InternalError"
            log.exception("%s: %s failed", self.id, msg.action)
            await self._send_call_error(msg.unique_id, "InternalError",
                                        f"{msg.action} could not be processed: "
                                        f"{type(error).__name__}")
        else:
            await self._send(call_result_frame(msg.unique_id, payload),
                             MessageType.CallResult, msg.unique_id, msg.action)
            if after is not None:
                self.spawn(after())
            for work in self._after_answer:
                self.spawn(work())
        self._after_answer.clear()
        self.hub.metrics.record("in", msg.action, time.perf_counter() - started, error_code)

    def after_answer(self, work: Callable[[], Awaitable[Any]]) -> None:
        """Run ``work()`` as a background task once the answer to the call being handled has
        been sent (dropped if the call ends in a CALLERROR). Feature handlers use it for work
        that talks back to the station, e.g. CertificateSigned after SignCertificate: calls are
        handled one at a time per session, so the CALLRESULT always goes out first."""
        self._after_answer.append(work)

    def feature_handler(self, msg: Call) -> ActionHandler | None:
        """The feature handler that answers ``msg`` instead of the core, if any.

        A version may override this to keep some calls of a feature-handled action in the core
        (OCPP 2.0.1 Authorize: only requests with certificate data go to Plug&Charge).
        """
        return self.hub.action_handlers.get((self.service_version or self.ocpp_version,
                                             msg.action))

    async def _dispatch(
        self, msg: Call
    ) -> tuple[dict[str, Any], Callable[[], Awaitable[Any]] | None]:
        action = msg.action
        feature_handler = self.feature_handler(msg)
        routes = self.routes().get(action, {})
        if feature_handler is None and "_on_action" not in routes:
            if action in self.known_actions:
                raise FrameError("NotImplemented", f"{action} is not implemented", msg.unique_id)
            raise FrameError("NotSupported", f"{action} is not an OCPP {self.ocpp_version} action",
                             msg.unique_id)
        validate(MessageType.Call, action, msg.payload, self.ocpp_version, msg.unique_id)

        kwargs: dict[str, Any] | None = None
        if feature_handler is not None:
            payload = await feature_handler(self, msg.payload)
        else:
            kwargs = to_snake(msg.payload)
            result = routes["_on_action"](self, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            payload = payload_of(result)
        if self.hub.config.ocpp.validate_responses:
            validate(MessageType.CallResult, action, payload, self.ocpp_version, msg.unique_id)

        after_hook = routes.get("_after_action")
        if after_hook is None:
            return payload, None
        after_kwargs = kwargs if kwargs is not None else to_snake(msg.payload)
        return payload, lambda: _maybe_await(after_hook(self, **after_kwargs))

    # -- outgoing calls --------------------------------------------------------------------

    async def call(self, payload: Any, suppress: bool = False, unique_id: str | None = None,
                   skip_schema_validation: bool = False, *, timeout: float | None = None) -> Any:
        """Send a CALL and return the response dataclass. Raises hub.commands errors."""
        action = type(payload).__name__
        body = payload_of(payload)
        if not skip_schema_validation:
            try:
                validate(MessageType.Call, action, body, self.ocpp_version)
            except FrameError as error:
                raise InvalidRequest(action, error) from None
        timeout = timeout or self._response_timeout
        unique_id = unique_id or str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                async with self._call_lock:
                    if self.closed:
                        raise commands.StationOffline(self.id)
                    future: asyncio.Future[CallResult | CallError] = loop.create_future()
                    self._pending[unique_id] = (action, future)
                    try:
                        await self._send(Call(unique_id, action, body).to_json(),
                                         MessageType.Call, unique_id, action)
                        answer = await future
                    finally:
                        self._pending.pop(unique_id, None)
        except TimeoutError:
            self.hub.metrics.record("out", action, time.perf_counter() - started, "Timeout")
            raise commands.CallTimeout(self.id, action, timeout) from None

        elapsed = time.perf_counter() - started
        if isinstance(answer, CallError):
            self.hub.metrics.record("out", action, elapsed, answer.error_code)
            raise commands.CallError(self.id, action, answer.error_code,
                                     answer.error_description, answer.error_details)
        if not skip_schema_validation:
            try:
                validate(MessageType.CallResult, action, answer.payload, self.ocpp_version)
            except FrameError as error:
                self.hub.metrics.record("out", action, elapsed, error.code)
                raise commands.CallError(self.id, action, error.code,
                                         f"{INVALID_ANSWER}{error.description}") from None
        self.hub.metrics.record("out", action, elapsed)
        result_cls = getattr(self._call_result, action)
        fields = result_cls.__dataclass_fields__
        return result_cls(**{k: v for k, v in to_snake(answer.payload).items() if k in fields})

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, frame: str, message_type: int = 0, unique_id: str | None = None,
                    action: str | None = None) -> None:
        self._log_frame("out", message_type, unique_id, action, frame)
        self.messages_out += 1
        try:
            await self.ws.send_str(frame)
        except (ConnectionError, RuntimeError) as error:
            # The socket went away under us; the read loop will notice and clean up.
            log.info("%s: could not send (%s)", self.id, error)

    async def _send_call_error(self, unique_id: str, code: str, description: str,
                               details: dict[str, Any] | None = None) -> None:
        error = CallError(unique_id, self.code(code), description, details or {})
        await self._send(error.to_json(), MessageType.CallError, unique_id, None)

    def _log_frame(self, direction: str, message_type: int, unique_id: str | None,
                   action: str | None, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            frame = frame.decode("utf-8", "replace")
        self.hub.message_log.record(self.id, direction, message_type, unique_id, action, frame)

    # -- lifetime ----------------------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run background work tied to this session, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: background task failed", self.id, exc_info=task.exception())

    def connection_closed(self) -> None:
        """Fail calls in flight: the answer can no longer arrive on this socket."""
        self.closed = True
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(commands.StationOffline(self.id))
        self._pending.clear()

    @property
    def last_seen_at(self) -> datetime:
        return datetime.fromtimestamp(self.last_seen, UTC)


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
