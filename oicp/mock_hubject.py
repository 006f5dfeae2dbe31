"""A mock Hubject: a real aiohttp server that answers the CPO operations like Hubject does,
for trying roaming on one machine (``pnc-hub hubject-mock``) and for the tests.

- records every request (``requests``: all attempts; ``accepted``: the ones it answered with
  an acknowledgement), by operation;
- validates every request body against the OICP 2.3 CPO OpenAPI (``spec.load_spec()``) when the
  spec is present, and its own answers too; problems land in ``invalid``;
- can fail on purpose: ``mode`` = "ok" | "timeout" (answers after ``delay`` seconds) | "5xx" |
  "429" (with Retry-After) | "reject" (Result false, 022) - and can be stopped and started again
  on the same port to play an outage;
- answers AuthorizeStart/Stop with ``authorization`` (Authorized, a new SessionID), and accepts
  one CDR per SessionID like Hubject (a second one gets Result false);
- plays the EMP side towards the hub: ``remote_start`` / ``remote_stop`` (also over HTTP:
  ``POST /mock/remote-start``, ``POST /mock/remote-stop``) call the hub's webhooks as Hubject
  would, checking what it sends and what the hub answers against the spec;
  ``GET /mock/requests`` lists what it received and every spec problem.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from oicp.spec import OicpSpec, load_spec

log = logging.getLogger(__name__)

CHARGING = "/api/oicp/charging/v21/providers/{provider}"
WEBHOOKS = {"start": CHARGING + "/authorize-remote/start",
            "stop": CHARGING + "/authorize-remote/stop"}
EVCO_ID = re.compile(r"^[A-Za-z]{2}-?[A-Za-z0-9]{3}-?C[A-Za-z0-9]{8}-?[\dA-Za-z]?$")
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
    host: str = "127.0.0.1"
    scheme: str = "http"
    # The hub whose webhooks remote_start/remote_stop call, and how they authenticate there.
    hub_url: str = "http://127.0.0.1:9751"
    webhook_secret: str = ""
    webhook_secret_header: str = "X-Hubject-Webhook-Secret"
    _runner: web.AppRunner | None = None

    # -- server -----------------------------------------------------------------------------

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> MockHubject:
        app = web.Application()
        app.router.add_post("/api/oicp/{tail:.*}", self._handle)
        app.router.add_post("/mock/remote-start", self._control_start)
        app.router.add_post("/mock/remote-stop", self._control_stop)
        app.router.add_get("/mock/requests", self._control_requests)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True,
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
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{self.scheme}://{host}:{self.port}/api/oicp"

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
            self._problems(self.spec.request_errors(path, body))
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
            self._problems(self.spec.response_errors(path, answer))
        record.answered = True
        log.info("%s from the hub answered (%s)", operation,
                 (answer.get("StatusCode") or {}).get("Code"))
        return web.json_response(answer)

    def _problems(self, problems: list[str]) -> None:
        for problem in problems:
            log.warning("not OICP 2.3: %s", problem)
        self.invalid.extend(problems)

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

    # -- the EMP side: remote start/stop at the hub -------------------------------------------

    async def remote_start(self, evse_id: str, emaid: str, session_id: str | None = None,
                           emp_partner_session_id: str | None = None) -> dict[str, Any]:
        """Ask the hub to start charging at ``evse_id`` for the contract ``emaid``."""
        body: dict[str, Any] = {
            "SessionID": session_id or str(uuid.uuid4()), "ProviderID": self.provider_id,
            "EvseID": evse_id, "Identification": {"RemoteIdentification": {"EvcoID": emaid}}}
        if emp_partner_session_id:
            body["EMPPartnerSessionID"] = emp_partner_session_id
        return await self._call_hub("start", body)

    async def remote_stop(self, session_id: str, evse_id: str) -> dict[str, Any]:
        """Ask the hub to stop the session ``session_id`` (of a remote start) at ``evse_id``."""
        return await self._call_hub("stop", {"SessionID": session_id,
                                             "ProviderID": self.provider_id,
                                             "EvseID": evse_id})

    async def _call_hub(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        path = WEBHOOKS[kind].format(provider=self.provider_id)
        problems = self.spec.request_errors(path, body) if self.spec is not None else []
        headers = {self.webhook_secret_header: self.webhook_secret} \
            if self.webhook_secret else {}
        timeout = aiohttp.ClientTimeout(total=15)  # Hubject gives a CPO 10 s
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                    self.hub_url.rstrip("/") + path, json=body, headers=headers) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return {"request": body, "status": None, "answer": None, "invalid": problems,
                    "error": f"the hub at {self.hub_url} did not answer: {exc!r}"}
        try:
            answer = json.loads(text)
        except ValueError:
            answer = text
            problems.append(f"{path} response: not JSON")
        if self.spec is not None and not isinstance(answer, str):
            problems += self.spec.response_errors(path, answer)
        self._problems(problems)
        log.info("AuthorizeRemote%s %s at the hub: HTTP %s %s", kind.title(),
                 body["SessionID"], status,
                 answer.get("StatusCode") if isinstance(answer, dict) else "")
        return {"request": body, "status": status, "answer": answer, "invalid": problems}

    async def _control_start(self, request: web.Request) -> web.Response:
        body = await _control_body(request)
        evse_id = _text(body, "evse_id")
        emaid = _text(body, "emaid")
        if not EVCO_ID.match(emaid):
            raise _bad("emaid", "is not an OICP EvcoID (e.g. DE-8EO-CAB12345C-7)")
        result = await self.remote_start(evse_id, emaid, _text(body, "session_id", False),
                                          _text(body, "emp_partner_session_id", False))
        return web.json_response(result, status=502 if result["status"] is None else 200)

    async def _control_stop(self, request: web.Request) -> web.Response:
        body = await _control_body(request)
        result = await self.remote_stop(_text(body, "session_id"), _text(body, "evse_id"))
        return web.json_response(result, status=502 if result["status"] is None else 200)

    async def _control_requests(self, request: web.Request) -> web.Response:
        return web.json_response({
            "spec": self.spec is not None,
            "requests": [{"operation": r.operation, "path": r.path, "answered": r.answered,
                          "body": r.body} for r in self.requests[-200:]],
            "invalid": self.invalid})


def _bad(field_name: str, detail: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": "invalid_request", "field": field_name,
                                               "detail": f"{field_name}: {detail}"}),
                              content_type="application/json")


async def _control_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        raise _bad("body", "is not valid JSON") from None
    if not isinstance(body, dict):
        raise _bad("body", "must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, required: bool = True) -> Any:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 250:
        raise _bad(name, "is required (a string)" if value is None else "must be a short string")
    return value.strip()
