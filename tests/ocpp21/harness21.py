"""A real `ocpp` 2.1 charging station (``ocpp.v21``, subprotocol ocpp2.1) that answers the
hub's commands and records what it received."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v21 import ChargePoint, call, call_result
from ocpp.v21.enums import Action

from tests.hub.harness import Received, RunningHub, running_charge_point


class TestStation21(ChargePoint):
    __test__ = False

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.received: list[Received] = []
        # Frames the `ocpp` package cannot parse (CALLRESULTERROR from the hub), as sent.
        self.new_frames: list[list[Any]] = []

    async def route_message(self, raw_msg: str) -> None:
        frame = json.loads(raw_msg)
        if frame and frame[0] in (5, 6):
            self.new_frames.append(frame)
            return
        await super().route_message(raw_msg)

    def _answer(self, action: str, answer: Any, **payload: Any) -> Any:
        self.received.append(Received(action, payload))
        return answer

    @on(Action.reset)
    def on_reset(self, **kw: Any) -> Any:
        return self._answer("Reset", call_result.Reset(status="Accepted"), **kw)

    @on(Action.request_start_transaction)
    def on_request_start(self, **kw: Any) -> Any:
        return self._answer("RequestStartTransaction",
                            call_result.RequestStartTransaction(status="Accepted"), **kw)

    @on(Action.request_stop_transaction)
    def on_request_stop(self, **kw: Any) -> Any:
        return self._answer("RequestStopTransaction",
                            call_result.RequestStopTransaction(status="Accepted"), **kw)

    @on(Action.get_report)
    def on_get_report(self, **kw: Any) -> Any:
        return self._answer("GetReport", call_result.GetReport(status="EmptyResultSet"), **kw)

    @on(Action.trigger_message)
    def on_trigger_message(self, **kw: Any) -> Any:
        return self._answer("TriggerMessage", call_result.TriggerMessage(status="Accepted"),
                            **kw)

    @on(Action.unlock_connector, skip_schema_validation=True)
    def on_unlock(self, **kw: Any) -> Any:
        # Not a 2.1 UnlockStatusEnumType value: the hub must refuse this answer.
        return self._answer("UnlockConnector", call_result.UnlockConnector(status="Jammed"),
                            **kw)

    @on(Action.cost_updated)
    def on_cost_updated(self, **kw: Any) -> Any:
        return self._answer("CostUpdated", call_result.CostUpdated(), **kw)

    @on(Action.certificate_signed)
    def on_certificate_signed(self, **kw: Any) -> Any:
        return self._answer("CertificateSigned",
                            call_result.CertificateSigned(status="Accepted"), **kw)

    async def boot(self) -> Any:
        return await self.call(call.BootNotification(
            charging_station={"vendor_name": "ACME", "model": "Wallbox 21",
                              "serial_number": "SN-21", "firmware_version": "2.1-a"},
            reason="PowerUp"), suppress=False)

    async def send_raw(self, frame: list[Any]) -> None:
        """A frame the `ocpp` package cannot send: SEND (6) or CALLRESULTERROR (5)."""
        await self._connection.send(json.dumps(frame))


@contextlib.asynccontextmanager
async def connect_station21(running: RunningHub, station_id: str
                            ) -> AsyncIterator[TestStation21]:
    async with websockets.connect(running.ws_url(station_id), subprotocols=["ocpp2.1"],
                                  open_timeout=10) as ws:
        assert ws.subprotocol == "ocpp2.1"
        async with running_charge_point(TestStation21(station_id, ws)) as station:
            yield station
