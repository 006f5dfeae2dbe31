"""Baseline B: a raw aiohttp WebSocket server that answers OCPP CALLs without validating.

It parses each frame only far enough to find the unique id and the action, and answers with a
canned CALLRESULT for the negotiated version (``ocpp1.6`` or ``ocpp2.0.1``; 1.6 when none was
offered): StartTransaction gets a counter transaction id, BootNotification and Heartbeat the
current time, a 2.0.1 TransactionEvent carrying an idToken gets its idTokenInfo. No schema
validation, no persistence, no logging: the ceiling of what a Python aiohttp server on this
machine can do. Any path is accepted.

    python3 bench/baseline_raw_server.py --port 9002
"""

from __future__ import annotations

import argparse
import itertools
import json
from datetime import UTC, datetime

from aiohttp import WSMsgType, web

_ACCEPTED = '{"idTagInfo":{"status":"Accepted"}}'
_CANNED_16 = {
    "Authorize": _ACCEPTED,
    "StopTransaction": _ACCEPTED,
    "MeterValues": "{}",
    "StatusNotification": "{}",
    "DataTransfer": '{"status":"Accepted"}',
}
_TOKEN_ACCEPTED = '{"idTokenInfo":{"status":"Accepted"}}'
_CANNED_201 = {
    "Authorize": _TOKEN_ACCEPTED,
    "MeterValues": "{}",
    "StatusNotification": "{}",
    "NotifyEvent": "{}",
    "DataTransfer": '{"status":"Accepted"}',
}
_transaction_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _answer16(action: str, payload: object) -> str:
    canned = _CANNED_16.get(action)
    if canned is not None:
        return canned
    if action == "Heartbeat":
        return '{"currentTime":"' + _now() + '"}'
    if action == "StartTransaction":
        return '{"transactionId":' + str(next(_transaction_ids)) + "," + _ACCEPTED[1:]
    if action == "BootNotification":
        return '{"currentTime":"' + _now() + '","interval":300,"status":"Accepted"}'
    return "{}"


def _answer201(action: str, payload: object) -> str:
    canned = _CANNED_201.get(action)
    if canned is not None:
        return canned
    if action == "Heartbeat":
        return '{"currentTime":"' + _now() + '"}'
    if action == "TransactionEvent":
        # idTokenInfo is required in the answer when the request carried an idToken.
        return _TOKEN_ACCEPTED if isinstance(payload, dict) and "idToken" in payload else "{}"
    if action == "BootNotification":
        return '{"currentTime":"' + _now() + '","interval":300,"status":"Accepted"}'
    return "{}"


_ANSWERS = {"ocpp1.6": _answer16, "ocpp2.0.1": _answer201}


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=tuple(_ANSWERS))
    await ws.prepare(request)
    answer = _ANSWERS.get(ws.ws_protocol or "", _answer16)
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            frame = json.loads(msg.data)
            if frame[0] != 2:
                continue
            unique_id, action = frame[1], frame[2]
            payload = frame[3] if len(frame) > 3 else None
        except (ValueError, LookupError, TypeError):
            continue
        await ws.send_str(f"[3,{json.dumps(unique_id)},{answer(action, payload)}]")
    return ws


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/{path:.*}", websocket_handler)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9002)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, print=None, access_log=None)
