"""OCPP 2.1 on the same endpoint (subprotocol ``ocpp2.1``): the 2.0.1 handlers and services,
with the ``ocpp`` package's 2.1 schemas and dataclasses.

2.1 keeps the 2.0.1 messages the hub handles (boot, heartbeat, status, authorisation,
transactions, meter values, reports, security and certificate messages) and adds fields to
them, so every 2.0.1 handler answers its 2.1 namesake; commands the services build as 2.0.1
requests are validated against the 2.1 schemas before they go out (``hub.commands`` treats a
2.1 station as one that takes 2.0.1 commands: ``service_version``). The features' 2.0.1
handlers (Plug&Charge) answer for 2.1 stations too.

2.1 actions with no 2.0.1 namesake get NotImplemented. The two new frame types, which the
``ocpp`` package does not parse, are handled here:

- SEND ``[6, id, action, payload]``: a message that expects no answer (periodic event streams).
  Validated and dispatched like a CALL when the hub handles the action; never answered.
- CALLRESULTERROR ``[5, id, code, description, details]``: the station could not process the
  hub's CALLRESULT to one of its calls. Logged and counted; nothing to answer. The hub sends
  one itself when a station's CALLRESULT to a hub call fails the 2.1 schema (the command
  still ends in a CallError for its caller).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from ocpp.messages import Call
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as call_result21
from ocpp.v21.enums import Action as Action21

from hub import commands
from hub.ocpp_server.framing import FrameError, validate
from hub.ocpp_server.session import INVALID_ANSWER
from hub.ocpp_server.session201 import StationSession201, check_int32

log = logging.getLogger(__name__)

SEND, CALL_RESULT_ERROR = 6, 5
_NEW_FRAME = re.compile(r"^\s*\[\s*[56]\s*,")


class StationSession21(StationSession201):
    ocpp_version = "2.1"
    subprotocol = "ocpp2.1"
    service_version = "2.0.1"
    known_actions = frozenset(a.value for a in Action21)
    # The package's 2.1 dataclasses for answers to the hub's calls (ocpp ChargePoint).
    _call = call21
    _call_result = call_result21

    async def call_payload(self, action: str, body: dict[str, Any], *,
                           unique_id: str | None = None, skip_schema_validation: bool = False,
                           timeout: float | None = None) -> dict[str, Any]:
        unique_id = unique_id or str(uuid.uuid4())
        try:
            return await super().call_payload(
                action, body, unique_id=unique_id,
                skip_schema_validation=skip_schema_validation, timeout=timeout)
        except commands.CallError as error:
            if error.description.startswith(INVALID_ANSWER):
                frame = json.dumps([CALL_RESULT_ERROR, unique_id, error.code,
                                    error.description, {}])
                await self._send(frame, CALL_RESULT_ERROR, unique_id, error.action)
            raise

    async def route_message(self, raw: str | bytes) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if not _NEW_FRAME.match(text[:16]):
            await super().route_message(raw)
            return
        self.messages_in += 1
        self.last_seen = time.time()
        try:
            frame = json.loads(text)
        except ValueError:
            await super().route_message(raw)  # malformed: answered as any broken frame
            return
        if frame[0] == SEND:
            await self._handle_send(frame, text)
        else:
            self._handle_call_result_error(frame, text)

    async def _handle_send(self, frame: list[Any], text: str) -> None:
        started = time.perf_counter()
        if len(frame) != 4 or not isinstance(frame[2], str) or not isinstance(frame[3], dict):
            log.info("%s: malformed SEND frame ignored", self.id)
            self._log_frame("in", SEND, None, None, text)
            return
        _, unique_id, action, payload = frame
        self._log_frame("in", SEND, str(unique_id), action, text)
        error_code = None
        try:
            check_int32(payload, str(unique_id))
            if "_on_action" not in self.routes().get(action, {}):
                raise FrameError("NotImplemented", f"{action} is not implemented",
                                 str(unique_id))
            validate(SEND_AS_CALL, action, payload, self.ocpp_version, str(unique_id))
            await self._dispatch(Call(str(unique_id), action, payload))
        except FrameError as error:
            # A SEND is never answered, not even with an error: note it and go on.
            error_code = error.code
            log.info("%s: SEND %s not processed: %s", self.id, action, error)
        except Exception:
            error_code = "InternalError"
            log.exception("%s: SEND %s failed", self.id, action)
        self.hub.metrics.record("in", action, time.perf_counter() - started, error_code)

    def _handle_call_result_error(self, frame: list[Any], text: str) -> None:
        unique_id = frame[1] if len(frame) > 1 else None
        code = frame[2] if len(frame) > 2 else None
        self._log_frame("in", CALL_RESULT_ERROR, str(unique_id), None, text)
        log.warning("%s: station could not process the hub's answer to %s: %s %s", self.id,
                    unique_id, code, frame[3] if len(frame) > 3 else "")
        self.hub.metrics.record("in", "(CALLRESULTERROR)", 0.0, str(code))


SEND_AS_CALL = 2  # a SEND's payload has the action's request schema
