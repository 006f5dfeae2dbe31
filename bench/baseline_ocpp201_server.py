"""Baseline A for OCPP 2.0.1: a minimal central system on the ``ocpp`` package, with its defaults.

The 2.0.1 twin of baseline_ocpp_server.py, in the shape of the ``ocpp`` package's documentation:
``websockets.serve`` offering the ``ocpp2.0.1`` subprotocol and one ``ocpp.v201.ChargePoint``
subclass per connection with ``@on`` handlers (BootNotification, Heartbeat, Authorize,
TransactionEvent, StatusNotification), driven by ``await cp.start()``. Nothing is tuned: schema
validation stays on (in the library's default thread executor) and the library's loggers are left
as it ships them. It accepts any path and uses the last path segment as the station id.

    python3 bench/baseline_ocpp201_server.py --port 9001
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint as BaseChargePoint
from ocpp.v201 import call_result, datatypes
from ocpp.v201.enums import Action, AuthorizationStatusEnumType, RegistrationStatusEnumType

SUBPROTOCOL = "ocpp2.0.1"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _accepted() -> datatypes.IdTokenInfoType:
    return datatypes.IdTokenInfoType(status=AuthorizationStatusEnumType.accepted)


class ChargePoint(BaseChargePoint):
    @on(Action.boot_notification)
    def on_boot_notification(self, charging_station, reason, **kwargs):
        return call_result.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatusEnumType.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=_now())

    @on(Action.authorize)
    def on_authorize(self, id_token, **kwargs):
        return call_result.Authorize(id_token_info=_accepted())

    @on(Action.transaction_event)
    def on_transaction_event(
        self, event_type, timestamp, trigger_reason, seq_no, transaction_info, **kwargs
    ):
        # idTokenInfo is required in the answer when the request carried an idToken.
        if kwargs.get("id_token") is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(id_token_info=_accepted())

    @on(Action.status_notification)
    def on_status_notification(self, timestamp, connector_status, evse_id, connector_id, **kwargs):
        return call_result.StatusNotification()


async def on_connect(websocket):
    if websocket.subprotocol != SUBPROTOCOL:
        await websocket.close()
        return
    charge_point_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    cp = ChargePoint(charge_point_id, websocket)
    try:
        await cp.start()
    except websockets.exceptions.ConnectionClosed:
        pass


async def main(host: str, port: int) -> None:
    async with websockets.serve(on_connect, host, port, subprotocols=[SUBPROTOCOL]) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.host, args.port))
    except KeyboardInterrupt:
        pass
