"""Baseline A: a minimal OCPP 1.6 central system on the ``ocpp`` package, with its defaults.

This is the canonical example shape from the ``ocpp`` package's documentation: ``websockets.serve``
offering the ``ocpp1.6`` subprotocol and one ``ocpp.v16.ChargePoint`` subclass per connection with
``@on`` handlers, driven by ``await cp.start()``. Nothing is tuned: schema validation stays on (the
library runs it in the default thread executor), and the library's loggers are left as the
library ships them (no ``logging`` configuration, so its per-message INFO records are not
emitted). It accepts any path and uses the last path segment as the station id.

    python3 bench/baseline_ocpp_server.py --port 9001
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as BaseChargePoint
from ocpp.v16 import call_result, datatypes
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus

_transaction_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ChargePoint(BaseChargePoint):
    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor, charge_point_model, **kwargs):
        return call_result.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=_now())

    @on(Action.authorize)
    def on_authorize(self, id_tag, **kwargs):
        return call_result.Authorize(
            id_tag_info=datatypes.IdTagInfo(status=AuthorizationStatus.accepted)
        )

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **kwargs):
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids),
            id_tag_info=datatypes.IdTagInfo(status=AuthorizationStatus.accepted),
        )

    @on(Action.meter_values)
    def on_meter_values(self, connector_id, meter_value, **kwargs):
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop, timestamp, transaction_id, **kwargs):
        return call_result.StopTransaction(
            id_tag_info=datatypes.IdTagInfo(status=AuthorizationStatus.accepted)
        )

    @on(Action.status_notification)
    def on_status_notification(self, connector_id, error_code, status, **kwargs):
        return call_result.StatusNotification()


async def on_connect(websocket):
    if websocket.subprotocol != "ocpp1.6":
        await websocket.close()
        return
    charge_point_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    cp = ChargePoint(charge_point_id, websocket)
    try:
        await cp.start()
    except websockets.exceptions.ConnectionClosed:
        pass


async def main(host: str, port: int) -> None:
    async with websockets.serve(on_connect, host, port, subprotocols=["ocpp1.6"]) as server:
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
