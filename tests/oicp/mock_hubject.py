"""A mock Hubject: a real aiohttp server that answers the CPO operations like Hubject does.

- records every request (``requests``: all attempts; ``accepted``: the ones it answered with
  an acknowledgement), by operation;
- validates every request body against the OICP 2.3 CPO OpenAPI (``spec.load_spec()``) when the
  spec is present, and its own answers too; problems land in ``invalid``;
- can fail on purpose: ``mode`` = "ok" | "timeout" (answers after ``delay`` seconds) | "5xx" |
  "429" (with Retry-After) | "reject" (Result false, 022) - and can be stopped and started again
  on the same port to play an outage;
- answers AuthorizeStart/Stop with ``authorization`` (Authorized, a new SessionID), and accepts
  one CDR per SessionID like Hubject (a second one gets Result false).
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.oicp.spec import OicpSpec, load_spec

OPERATIONS = {
    "/evsepush/v23/operators/{operatorID}/data-records": "PushEvseData",
    "/evsepush/v21/operators/{operatorID}/status-records": "PushEvseStatus",
    "/charging/v21/operators/{operatorID}/authorize/start": "AuthorizeStart",
    "/charging/v21/operators/{operatorID}/authorize/stop": "AuthorizeStop",
    "/cdrmgmt/v22/operators/{operatorID}/charge-detail-record": "ChargeDetailRecord",
    "/notificationmgmt/v11/charging-notifications": "ChargingNotifications",
    "/dynamicpricing/v10/operators/{operatorID}/pricing-products": "PushPricingProductData",
    "/dynamicpricing/v10/operators/{operatorID}/evse-pricing": "PushEVSEPricing",
}

_ROUTES = [(re.compile("^/api/oicp" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)) + "$"), name)
           for t, name in OPERATIONS.items()]


def operation_of(path: str) -> str:
    for regexp, name in _ROUTES:
        if regexp.match(path):
            return name
    return path


@dataclass
class Recorded:
    operation: str
    path: str
    body: Any
    at: float
    answered: bool = False


@dataclass
class MockHubject:
    spec: OicpSpec | None = field(default_factory=load_spec)
    mode: str = "ok"
    delay: float = 2.0
    retry_after: float = 0.05
    authorization: str = "Authorized"
    provider_id: str = "DE*8EO"
    requests: list[Recorded] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    cdr_sessions: set[str] = field(default_factory=set)
    port: int = 0
    scheme: str = "http"
    _runner: web.AppRunner | None = None

    # -- server -----------------------------------------------------------------------------

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> MockHubject:
        app = web.Application()
        app.router.add_post("/api/oicp/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True,
                           ssl_context=ssl_context)
        self.scheme = "https" if ssl_context else "http"
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/api/oicp"

    # -- what it saw ------------------------------------------------------------------------

    def accepted(self, operation: str | None = None) -> list[Any]:
        return [r.body for r in self.requests
                if r.answered and (operation is None or r.operation == operation)]

    def attempts(self, operation: str | None = None) -> int:
        return sum(1 for r in self.requests if operation is None or r.operation == operation)

    def statuses(self) -> list[tuple[str, str]]:
        """Every (EvseID, EvseStatus) accepted, in the order received."""
        return [(rec["EvseID"], rec["EvseStatus"]) for body in self.accepted("PushEvseStatus")
                for rec in body["OperatorEvseStatus"]["EvseStatusRecord"]]

    def latest_status(self) -> dict[str, str]:
        return dict(self.statuses())

    # -- answers ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        path = request.path
        operation = operation_of(path)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
            self.invalid.append(f"{path}: body is not JSON")
        record = Recorded(operation, path, body, time.monotonic())
        self.requests.append(record)
        if self.spec is not None:
            self.invalid.extend(self.spec.request_errors(path, body))
        if request.content_type != "application/json":
            self.invalid.append(f"{path}: content type {request.content_type}")

        if self.mode == "timeout":
            await asyncio.sleep(self.delay)
        elif self.mode == "5xx":
            return web.json_response({"message": "Service Unavailable"}, status=503)
        elif self.mode == "429":
            return web.Response(status=429, headers={"Retry-After": str(self.retry_after)},
                                text="Too Many Requests")

        answer = self._answer(operation, body)
        if self.spec is not None:
            self.invalid.extend(self.spec.response_errors(path, answer))
        record.answered = True
        return web.json_response(answer)

    def _answer(self, operation: str, body: Any) -> dict[str, Any]:
        if self.mode == "reject":
            return {"Result": False, "StatusCode": {"Code": "022", "Description": "Data error"}}
        if operation in ("AuthorizeStart", "AuthorizeStop"):
            authorized = self.authorization == "Authorized"
            answer: dict[str, Any] = {
                "AuthorizationStatus": self.authorization,
                "StatusCode": {"Code": "000" if authorized else "102",
                               "Description": "Success" if authorized
                               else "RFID Authentication failed - invalid UID"},
            }
            if authorized:
                answer["SessionID"] = (body or {}).get("SessionID") or str(uuid.uuid4())
                answer["ProviderID"] = self.provider_id
            return answer
        if operation == "ChargeDetailRecord":
            session_id = (body or {}).get("SessionID")
            if session_id in self.cdr_sessions:
                return {"Result": False, "SessionID": session_id,
                        "StatusCode": {"Code": "022",
                                       "AdditionalInfo": "a CDR for this session exists"}}
            self.cdr_sessions.add(session_id)
            return {"Result": True, "SessionID": session_id,
                    "StatusCode": {"Code": "000", "Description": "Success"}}
        return {"Result": True, "StatusCode": {"Code": "000", "Description": "Success"}}
