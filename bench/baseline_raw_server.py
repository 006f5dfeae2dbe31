"""Baseline B: a raw aiohttp WebSocket server that answers OCPP 1.6 CALLs without validating.

It parses each frame only far enough to find the unique id and the action, and answers with a
canned CALLRESULT (StartTransaction gets a counter transaction id, BootNotification and Heartbeat
the current time). No schema validation, no persistence, no logging: the ceiling of what a Python
aiohttp server on this machine can do. Any path is accepted.

    python3 bench/baseline_raw_server.py --port 9002
"""

from __future__ import annotations

import argparse
import itertools
import json
from datetime import UTC, datetime

from aiohttp import WSMsgType, web

_ACCEPTED = '{"idTagInfo":{"status":"Accepted"}}'
_CANNED = {
    "Authorize": _ACCEPTED,
    "StopTransaction": _ACCEPTED,
    "MeterValues": "{}",
    "StatusNotification": "{}",
    "DataTransfer": '{"status":"Accepted"}',
}
_transaction_ids = itertools.count(1)


def _answer(action: str) -> str:
    canned = _CANNED.get(action)
    if canned is not None:
        return canned
    if action == "Heartbeat":
        return '{"currentTime":"' + datetime.now(UTC).isoformat() + '"}'
    if action == "StartTransaction":
        return '{"transactionId":' + str(next(_transaction_ids)) + "," + _ACCEPTED[1:]
    if action == "BootNotification":
        now = datetime.now(UTC).isoformat()
        return '{"currentTime":"' + now + '","interval":300,"status":"Accepted"}'
    return "{}"


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("ocpp1.6",))
    await ws.prepare(request)
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            frame = json.loads(msg.data)
            if frame[0] != 2:
                continue
            unique_id, action = frame[1], frame[2]
        except (ValueError, LookupError, TypeError):
            continue
        await ws.send_str(f"[3,{json.dumps(unique_id)},{_answer(action)}]")
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
