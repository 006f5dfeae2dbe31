"""``POST /api/pnc/opcp/webhook``: OPCP webhook events (payload version 1.0.1) about the root
certificate pool: ``root.cert.added``, ``root.cert.expired``, ``root.cert.revoked``.

No bearer token (OPCP cannot send one): the credential is the HMAC-SHA256 of the raw body under
``[pnc] webhook_secret``, hex, in ``X-Hubject-Signature: sha256=<hex>`` (also read from
``X-Operator-Signature`` and ``payload-signature``, the names the OPCP texts use). Without a
configured secret every call is refused; a missing or wrong signature is 401, compared in
constant time. The signed body's ``timestamp`` must lie within ``webhook_tolerance_seconds`` of
now, so that a captured call cannot be replayed later; an ``eventId`` seen before is
acknowledged without acting twice. A valid event withdraws a revoked or expired root at once
and asks for a pool sync, which adds new roots and rolls them out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.exc import IntegrityError

from hub.auth import public
from hub.db.base import utcnow
from hub.errors import ApiError, bad_request, error_response
from hub.json_body import JsonBodyError, parse_json
from hub.openapi import operation
from pnc.models import EXPIRED, REVOKED, PncWebhookEvent
from pnc.runtime import PNC

log = logging.getLogger(__name__)
EVENTS = PncWebhookEvent.__table__
SIGNATURE_HEADERS = ("X-Hubject-Signature", "X-Operator-Signature", "payload-signature")
ROOT_EVENTS = ("root.cert.added", "root.cert.expired", "root.cert.revoked")
#: The OPCP events for mobility operators and OEMs: valid, of no concern to a CPO's hub.
OTHER_EVENTS = ("mo.prov.cert.updated", "mo.prov.cert.deleted", "mo.prov.cert.factory.reset",
                "mo.prov.cert.updated.factory.reset", "mo.contract.delivered.to.oem",
                "mo.contract.created.sent.to.oem", "mo.contract.updated.sent.to.oem",
                "mo.contract.deleted.sent.to.oem", "mo.contract.rejected.by.oem",
                "mo.contract.queued.to.oem", "oem.contract.created", "oem.contract.updated",
                "oem.contract.deleted")
UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
MAX_BODY = 64 * 1024

WEBHOOK_BODY: dict[str, Any] = {
    "type": "object", "required": ["timestamp", "eventId", "eventType", "payload"],
    "properties": {
        "timestamp": {"type": "string", "format": "date-time"},
        "eventId": {"type": "string", "format": "uuid"},
        "eventType": {"type": "string", "enum": [*ROOT_EVENTS, *OTHER_EVENTS]},
        "xsdMsgDefNamespace": {"type": "string"},
        "payload": {"type": "object", "properties": {
            "rootCertificateId": {"type": "string"}, "distinguishedName": {"type": "string"},
            "commonName": {"type": "string"}, "rootType": {"type": "string"},
            "rootSerialNumber": {"type": "string"}, "fingerprintSHA256": {"type": "string"}}}},
    "examples": [{"timestamp": "2026-02-03T00:00:00Z",
                  "eventId": "b1b86334-7c74-4ccc-b78d-d4f773d3b559",
                  "eventType": "root.cert.added", "payload": {
                      "rootCertificateId": "b1b86334-7c74-4ccc-b78d-d4f773d3b559",
                      "distinguishedName": "CN=V2G Root CA G2, DC=V2G, O=Hubject GmbH, C=DE",
                      "commonName": "V2G Root CA G2", "rootType": "V2G"}}],
}
WEBHOOK_ANSWER: dict[str, Any] = {
    "type": "object", "required": ["eventId", "status"],
    "properties": {"eventId": {"type": "string"},
                   "status": {"type": "string", "enum": ["accepted", "duplicate", "ignored"]},
                   "withdrawn": {"type": "array", "items": {"type": "string"}}}}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}


def signature_of(request: web.Request) -> str | None:
    for name in SIGNATURE_HEADERS:
        value = request.headers.get(name)
        if value:
            return value.strip()
    return None


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """``header`` is ``sha256=<hex>`` (or the bare hex) of HMAC-SHA256(secret, body)."""
    scheme, sep, value = header.partition("=")
    if not sep:
        scheme, value = "sha256", header
    if scheme.strip().lower() != "sha256":
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), value.strip().lower().encode())


def _timestamp(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise bad_request("timestamp", "an RFC 3339 date-time is required")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request("timestamp", "not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise bad_request("timestamp", "must carry a time zone")
    return parsed.astimezone(dt.UTC)


def _event(body: Any) -> tuple[str, str, dt.datetime, dict[str, Any]]:
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    event_id, event_type, payload = body.get("eventId"), body.get("eventType"), \
        body.get("payload")
    if not isinstance(event_id, str) or not UUID.match(event_id):
        raise bad_request("eventId", "a UUID is required")
    if event_type not in ROOT_EVENTS + OTHER_EVENTS:
        raise bad_request("eventType", f"one of {', '.join(ROOT_EVENTS + OTHER_EVENTS)}")
    if not isinstance(payload, dict):
        raise bad_request("payload", "an object is required")
    if event_type in ROOT_EVENTS and payload.get("rootType") not in ("MO", "OEM", "V2G"):
        raise bad_request("payload.rootType", "one of MO, OEM, V2G")
    return event_id.lower(), event_type, _timestamp(body.get("timestamp")), payload


async def _authentic_body(request: web.Request, secret: str) -> bytes:
    if not secret:
        raise ApiError(403, "webhook_not_configured",
                       "OPCP webhooks are refused: [pnc] webhook_secret is not set")
    header = signature_of(request)
    if header is None:
        raise ApiError(401, "signature_missing", "the X-Hubject-Signature header "
                       "(sha256=HMAC-SHA256 of the body) is required")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "body_too_large", f"the body exceeds {MAX_BODY} bytes")
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise ApiError(413, "body_too_large", f"the body exceeds {MAX_BODY} bytes")
    if not verify_signature(secret, body, header):
        raise ApiError(401, "signature_invalid", "the signature does not match the body")
    return body


@public
@operation("OPCP webhook: root certificate pool events", tags=["pnc"], body=WEBHOOK_BODY,
           response=WEBHOOK_ANSWER, responses={
               "400": _err("a field is missing or invalid (named in the answer)"),
               "401": _err("signature missing or wrong, or timestamp outside the window"),
               "403": _err("no webhook secret is configured"),
               "413": _err("body larger than 64 KiB"),
               "503": _err("the hub is starting (OPCP retries)")},
           description="Called by Hubject's webhook service (OPCP payload 1.0.1). No bearer "
                       "token: X-Hubject-Signature = sha256=hex(HMAC-SHA256([pnc] "
                       "webhook_secret, raw body)) is the credential; the body's timestamp must "
                       "be within [pnc] webhook_tolerance_seconds of now.")
async def opcp_webhook(request: web.Request) -> web.Response:
    pnc = request.app[PNC].pnc
    if pnc is None:  # OPCP retries 5xx answers
        raise ApiError(503, "starting", "Plug&Charge is starting; try again")
    body = await _authentic_body(request, pnc.settings.webhook_secret)
    try:
        data = parse_json(body)
    except JsonBodyError as exc:
        raise bad_request("body", str(exc)) from None
    event_id, event_type, timestamp, payload = _event(data)
    skew = abs((utcnow() - timestamp).total_seconds())
    if skew > pnc.settings.webhook_tolerance_seconds:
        return error_response(401, "timestamp_outside_window",
                              f"the event's timestamp is {skew:.0f} s from now; at most "
                              f"{pnc.settings.webhook_tolerance_seconds:g} s are accepted",
                              field="timestamp")
    try:
        async with pnc.hub.committer.transaction() as conn:
            await conn.execute(sa.insert(EVENTS).values(
                event_id=event_id, event_type=event_type, event_timestamp=timestamp,
                received_at=utcnow(), payload=payload))
    except IntegrityError:
        return web.json_response({"eventId": event_id, "status": "duplicate"})
    if event_type not in ROOT_EVENTS:
        return web.json_response({"eventId": event_id, "status": "ignored"})
    log.info("OPCP webhook %s %s: %s", event_type, event_id, payload.get("distinguishedName"))
    withdrawn: list[str] = []
    if event_type in ("root.cert.revoked", "root.cert.expired"):
        state = REVOKED if event_type == "root.cert.revoked" else EXPIRED
        withdrawn = list((await pnc.trust.withdraw_event(payload, state)).withdrawn)
    pnc.trust.request()
    return web.json_response({"eventId": event_id, "status": "accepted",
                              "withdrawn": withdrawn})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/pnc/opcp/webhook", opcp_webhook)
