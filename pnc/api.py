"""``/api/pnc/*``: send Plug&Charge commands, manage a station's certificates, see the
inventory and the lifecycle jobs. Admin token required (the core's default)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding
from ocpp.messages import MessageType

from certs.errors import HashDataError
from certs.store import fingerprint_of, load_record_certificate
from certs.validation import parse_chain
from hub.commands import CommandFailed, StationOffline
from hub.db.base import utcnow
from hub.db.models import Station
from hub.errors import ApiError, bad_request, unknown_station
from hub.feature_api import FrameError, valid_station_id, validate_payload
from hub.json_body import read_json_object
from hub.openapi import operation, path, query
from pnc import inventory
from pnc.charger import ACTIONS, TRANSPORTS, Answer, TunnelRefused, UnsupportedCommand
from pnc.jobs import job_json
from pnc.models import OPEN_STATES, PncJob, PncOcspResponse
from pnc.runtime import PNC, Pnc
from pnc.tunnel import TunnelError

ROOT_TYPES = ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate",
              "ManufacturerRootCertificate")
OPERATIONS = ("install", "get", "delete", "check", "rollout")
OBJ: dict[str, Any] = {"type": "object"}


def _pnc(request: web.Request) -> Pnc:
    return request.app[PNC].get()


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}


COMMAND_ERRORS = {
    "404": _error("unknown station"),
    "409": _error("station offline"),
    "502": _error("the charger answered with a CALLERROR, refused the tunnel's DataTransfer, "
                  "or gave an answer that does not fit the OCPP 2.0.1 schema"),
    "504": _error("the charger did not answer in time"),
}
FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


def _str(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise bad_request(key, "must be a non-empty string")
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; nothing legitimate contains it
        raise bad_request(key, "must not contain NUL characters")
    return value


async def _station(pnc: Pnc, station_id: str) -> Station:
    if not valid_station_id(station_id):  # cannot be a station: no query needed
        raise unknown_station(station_id)
    async with pnc.hub.sessions() as session:
        station = await session.get(Station, station_id)
    if station is None:
        raise unknown_station(station_id)
    return station


async def _send(pnc: Pnc, station_id: str, action: str, payload: dict[str, Any],
                transport: str = "auto", timeout: float | None = None) -> Answer:
    try:
        validate_payload(MessageType.Call, action, payload, "2.0.1")
    except FrameError as error:
        raise ApiError(400, "invalid_request", f"{action} payload: {error.description}",
                       field=(error.details or {}).get("field")) from None
    try:
        return await pnc.commands.send(station_id, action, payload, transport=transport,
                                       timeout=timeout)
    except UnsupportedCommand as exc:
        raise ApiError(400, "unsupported_command", str(exc)) from None
    except TunnelRefused as exc:
        raise ApiError(502, "charger_refused", str(exc), station_id=station_id, action=action,
                       data_transfer_status=exc.status) from None
    except TunnelError as exc:
        raise ApiError(502, "charger_error", f"invalid answer: {exc.detail}",
                       station_id=station_id, action=action) from None


def _answer(station_id: str, answer: Answer) -> dict[str, Any]:
    return {"station_id": station_id, "action": answer.action, "transport": answer.transport,
            "status": answer.status, "response": answer.payload}


COMMAND_BODY = {
    "type": "object", "required": ["station_id", "action", "payload"],
    "properties": {
        "station_id": {"type": "string"},
        "action": {"enum": list(ACTIONS)},
        "payload": {"type": "object", "description": "the OCPP 2.0.1 request (camelCase)"},
        "transport": {"enum": list(TRANSPORTS), "default": "auto",
                      "description": "OCPP 1.6: tunnel (DataTransfer iso15118pnc) or security "
                                     "(Security Whitepaper); auto picks by certificate type"},
        "timeout": {"type": "number"}},
}
ANSWER = {"type": "object", "properties": {
    "station_id": {"type": "string"}, "action": {"type": "string"},
    "transport": {"type": "string"}, "status": {"type": ["string", "null"]},
    "response": {"type": "object"}}}


@operation("Send a Plug&Charge command to a station and return its answer", tags=["pnc"],
           body=COMMAND_BODY, response=ANSWER, responses=COMMAND_ERRORS, description=(
               "Actions: CertificateSigned, InstallCertificate, GetInstalledCertificateIds, "
               "DeleteCertificate, TriggerMessage, with OCPP 2.0.1 payloads. An OCPP 1.6 "
               "station gets them through the ISO 15118 DataTransfer tunnel or the Security "
               "Whitepaper messages; the answer is always the 2.0.1 response."))
async def ocpp_command(request: web.Request) -> web.Response:
    pnc = _pnc(request)
    body = await read_json_object(request)
    station_id = _str(body, "station_id")
    assert station_id is not None
    action = _str(body, "action")
    if action not in ACTIONS:
        raise bad_request("action", f"one of {', '.join(ACTIONS)}")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise bad_request("payload", "must be an object (the OCPP 2.0.1 request)")
    transport = body.get("transport", "auto")
    if transport not in TRANSPORTS:
        raise bad_request("transport", f"one of {', '.join(TRANSPORTS)}")
    timeout = body.get("timeout")
    if timeout is not None and (not isinstance(timeout, int | float) or not 0 < timeout <= 300):
        raise bad_request("timeout", "seconds, 0 < timeout <= 300")
    await _station(pnc, station_id)
    answer = await _send(pnc, station_id, action, payload, transport, timeout)
    return web.json_response(_answer(station_id, answer))


CERTIFICATES_BODY = {
    "type": "object", "required": ["operation"],
    "properties": {
        "operation": {"enum": list(OPERATIONS)},
        "station_id": {"type": "string"},
        "certificate_type": {"enum": list(ROOT_TYPES)},
        "certificate": {"type": "string", "description": "PEM; must be in the trust store"},
        "fingerprint": {"type": "string", "description": "SHA-256 of a stored certificate"},
        "certificate_types": {"type": "array", "items": {"type": "string"}},
        "certificate_hash_data": OBJ,
        "station_ids": {"type": "array", "items": {"type": "string"}}},
}


@operation("Manage a station's certificates: install, get, delete, check, rollout",
           tags=["pnc"], body=CERTIFICATES_BODY, response=OBJ, responses=COMMAND_ERRORS,
           description=(
               "install: InstallCertificate of trust-store roots (one by PEM or fingerprint, "
               "or every valid root of certificate_type); get: GetInstalledCertificateIds, "
               "stored as the station's inventory; delete: DeleteCertificate by hash data or "
               "fingerprint; check: fetch the inventory and compare it with what the station "
               "should hold; rollout: install jobs for roots on every Plug&Charge station."))
async def ocpp_certificates(request: web.Request) -> web.Response:
    pnc = _pnc(request)
    body = await read_json_object(request)
    operation_name = body.get("operation")
    if operation_name not in OPERATIONS:
        raise bad_request("operation", f"one of {', '.join(OPERATIONS)}")
    if operation_name == "rollout":
        return web.json_response(await _rollout(pnc, body))
    station_id = _str(body, "station_id")
    assert station_id is not None
    await _station(pnc, station_id)
    if operation_name == "install":
        result = await _install(pnc, station_id, body)
    elif operation_name == "get":
        result = await _get(pnc, station_id, body.get("certificate_types"))
    elif operation_name == "delete":
        result = await _delete(pnc, station_id, body)
    else:
        result = await _check(pnc, station_id)
    return web.json_response({"station_id": station_id, "operation": operation_name, **result},
                             dumps=_dumps)


async def _roots_to_install(pnc: Pnc, body: dict[str, Any]) -> list[Any]:
    certificate_type = _str(body, "certificate_type")
    if certificate_type not in ROOT_TYPES:
        raise bad_request("certificate_type", f"one of {', '.join(ROOT_TYPES)}")
    now = utcnow()
    if body.get("certificate") is not None or body.get("fingerprint") is not None:
        if body.get("certificate") is not None:
            try:
                fingerprint = fingerprint_of(parse_chain(_str(body, "certificate") or "")[0])
            except (ValueError, IndexError):
                raise bad_request("certificate", "not a PEM certificate") from None
        else:
            fingerprint = (_str(body, "fingerprint") or "").lower()
        record = await pnc.store.get_certificate(fingerprint) \
            if FINGERPRINT.match(fingerprint) else None
        if record is None or record.role != certificate_type:
            raise ApiError(400, "unknown_root", f"this certificate is not a {certificate_type} "
                           "of the hub's trust store (import it with pnc-hub pki first)",
                           fingerprint=fingerprint)
        return [record]
    records = [r for r in await pnc.store.find_certificates(role=certificate_type)
               if r.revoked_at is None and r.not_before <= now < r.not_after]
    if not records:
        raise ApiError(400, "unknown_root", f"the trust store holds no valid {certificate_type}")
    return records


async def _install(pnc: Pnc, station_id: str, body: dict[str, Any]) -> dict[str, Any]:
    results = []
    for record in await _roots_to_install(pnc, body):
        pem = load_record_certificate(record).public_bytes(Encoding.PEM).decode()
        answer = await _send(pnc, station_id, "InstallCertificate", {
            "certificateType": record.role, "certificate": pem})
        results.append({"fingerprint": record.fingerprint, "subject": record.subject,
                        "status": answer.status, "transport": answer.transport,
                        "response": answer.payload})
    return {"results": results}


async def _get(pnc: Pnc, station_id: str, types: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if types is not None:
        if not isinstance(types, list) or not types:
            raise bad_request("certificate_types", "a non-empty list of certificate types")
        payload["certificateType"] = types
    answer = await _send(pnc, station_id, "GetInstalledCertificateIds", payload)
    return {"status": answer.status, "transport": answer.transport,
            "response": answer.payload, **await inventory.comparison(pnc, station_id)}


async def _delete(pnc: Pnc, station_id: str, body: dict[str, Any]) -> dict[str, Any]:
    hash_data = body.get("certificate_hash_data")
    if hash_data is None:
        fingerprint = (_str(body, "fingerprint") or "").lower()
        if not FINGERPRINT.match(fingerprint):
            raise bad_request("fingerprint", "64 hex digits (SHA-256 of the certificate)")
        certificate = await inventory.certificate_by_fingerprint(pnc, fingerprint)
        if certificate is None:
            raise bad_request("fingerprint", "no stored certificate has this fingerprint")
        data = await inventory.hash_data_of(pnc, certificate)
        if data is None:
            raise bad_request("fingerprint", "the certificate's issuer is not in the store")
        hash_data = data.to_ocpp()
    if not isinstance(hash_data, dict):
        raise bad_request("certificate_hash_data", "must be an object")
    try:
        inventory.normalise(hash_data)
    except HashDataError as exc:
        raise bad_request("certificate_hash_data", exc.message) from None
    answer = await _send(pnc, station_id, "DeleteCertificate",
                         {"certificateHashData": hash_data})
    return {"status": answer.status, "transport": answer.transport, "response": answer.payload}


async def _check(pnc: Pnc, station_id: str) -> dict[str, Any]:
    version = pnc.hub.commands.ocpp_version(station_id)
    if version is None:
        raise StationOffline(station_id)
    reports = []
    if version == "2.0.1":
        reports.append(await _send(pnc, station_id, "GetInstalledCertificateIds", {}))
    else:
        reports.append(await _send(pnc, station_id, "GetInstalledCertificateIds", {
            "certificateType": ["V2GRootCertificate", "MORootCertificate",
                                "V2GCertificateChain"]}))
        for kind in ("CSMSRootCertificate", "ManufacturerRootCertificate"):
            try:
                reports.append(await _send(pnc, station_id, "GetInstalledCertificateIds",
                                           {"certificateType": [kind]}))
            except (ApiError, CommandFailed):
                pass  # a 1.6 station without the Security Whitepaper still gets checked
    return {"reports": [{"transport": r.transport, "response": r.payload} for r in reports],
            **await inventory.comparison(pnc, station_id)}


async def _rollout(pnc: Pnc, body: dict[str, Any]) -> dict[str, Any]:
    fingerprints = None
    if body.get("fingerprint") is not None or body.get("certificate") is not None \
            or body.get("certificate_type") is not None:
        fingerprints = [r.fingerprint for r in await _roots_to_install(pnc, body)]
    stations = body.get("station_ids")
    if stations is not None and (not isinstance(stations, list) or not all(
            isinstance(s, str) and valid_station_id(s) for s in stations)):
        raise bad_request("station_ids", "a list of station ids")
    jobs = await pnc.lifecycle.rollout(fingerprints, stations)
    pnc.jobs.wake()
    return {"operation": "rollout", "jobs": jobs}


def _record_json(record: Any, ocsp: dict[str, Any] | None = None) -> dict[str, Any]:
    now = utcnow()
    return {"fingerprint": record.fingerprint, "role": record.role, "serial": record.serial,
            "subject": record.subject, "notBefore": record.not_before,
            "notAfter": record.not_after,
            "expiresInDays": round((record.not_after - now).total_seconds() / 86400, 1),
            "revokedAt": record.revoked_at, "revocationReason": record.revocation_reason,
            "ocsp": ocsp}


async def _ocsp_states(pnc: Pnc, serials: list[str]) -> dict[str, dict[str, Any]]:
    rows = PncOcspResponse.__table__
    if not serials:
        return {}
    async with pnc.hub.engine.connect() as conn:
        found = (await conn.execute(sa.select(rows).where(rows.c.serial_number.in_(serials))
                                    )).all()
    return {r.serial_number: {"status": r.cert_status, "thisUpdate": r.this_update,
                              "nextUpdate": r.next_update, "fetchedAt": r.fetched_at,
                              "failures": r.failures, "lastError": r.last_error}
            for r in found}


@operation("A station's certificates: issued, installed, expected, OCSP state, jobs",
           tags=["pnc"], response=OBJ,
           parameters=[path("station_id", {"type": "string", "minLength": 1, "maxLength": 48})],
           responses={"404": _error("unknown station")})
async def station_certificates(request: web.Request) -> web.Response:
    pnc = _pnc(request)
    station_id = request.match_info["station_id"]
    await _station(pnc, station_id)
    issued = await pnc.store.find_certificates(station_id=station_id)
    ocsp = await _ocsp_states(pnc, [r.serial for r in issued])
    rows = await inventory.installed_rows(pnc, station_id)
    jobs_table = PncJob.__table__
    async with pnc.hub.engine.connect() as conn:
        jobs = (await conn.execute(sa.select(jobs_table).where(
            jobs_table.c.station_id == station_id).order_by(jobs_table.c.id.desc()).limit(50))
        ).all()
    body = {
        "station_id": station_id, "connected": pnc.hub.commands.is_connected(station_id),
        "ocpp_version": pnc.hub.commands.ocpp_version(station_id),
        "issued": [_record_json(r, ocsp.get(r.serial)) for r in issued],
        "installed": [{"certificateType": r.certificate_type,
                       "certificateHashData": inventory.hash_data_json(r),
                       "fingerprint": r.fingerprint, "source": r.source,
                       "child": r.parent_id is not None, "seenAt": r.seen_at} for r in rows],
        "inventory_reports": await inventory.reports(pnc, station_id),
        **await inventory.comparison(pnc, station_id),
        "jobs": [job_json(j) for j in jobs],
    }
    return web.json_response(body, dumps=_dumps)


@operation("Plug&Charge lifecycle jobs: what is pending, what failed and why", tags=["pnc"],
           parameters=[query("state", {"enum": ["pending", "waiting", "done", "failed",
                                                "open"]}),
                       query("kind", {"enum": ["sign", "renew", "install_root"]}),
                       query("station_id"), query("limit", {"type": "integer"})],
           response=OBJ)
async def list_jobs(request: web.Request) -> web.Response:
    pnc = _pnc(request)
    table = PncJob.__table__
    query_ = sa.select(table).order_by(table.c.id.desc())
    state = request.query.get("state")
    if state not in (None, "open", *OPEN_STATES, "done", "failed"):
        raise bad_request("state", "pending, waiting, done, failed or open")
    if request.query.get("kind") not in (None, "sign", "renew", "install_root"):
        raise bad_request("kind", "sign, renew or install_root")
    if request.query.get("station_id") is not None and \
            not valid_station_id(request.query["station_id"]):
        raise bad_request("station_id", "not a station id")
    if state == "open":
        query_ = query_.where(table.c.state.in_(OPEN_STATES))
    elif state:
        query_ = query_.where(table.c.state == state)
    if request.query.get("kind"):
        query_ = query_.where(table.c.kind == request.query["kind"])
    if request.query.get("station_id"):
        query_ = query_.where(table.c.station_id == request.query["station_id"])
    try:
        limit = min(max(int(request.query.get("limit", "200")), 1), 1000)
    except ValueError:
        raise bad_request("limit", "an integer") from None
    async with pnc.hub.engine.connect() as conn:
        rows = (await conn.execute(query_.limit(limit))).all()
    return web.json_response({"jobs": [job_json(r) for r in rows],
                              "last_sweep": pnc.lifecycle.last_sweep})


@operation("Run the Plug&Charge lifecycle sweep now (renewals, root rollout, OCSP refresh)",
           tags=["pnc"], response=OBJ)
async def sweep(request: web.Request) -> web.Response:
    return web.json_response(await _pnc(request).lifecycle.sweep())


@operation("Read the OPCP root certificate pool now: add new V2G/MO roots (and roll them out), "
           "withdraw expired, revoked or vanished ones (and delete them from stations)",
           tags=["pnc"], response={"type": "object", "properties": {
               "added": {"type": "array", "items": {"type": "string"}},
               "withdrawn": {"type": "object", "additionalProperties": {"type": "string"}},
               "failed": {"type": "object", "additionalProperties": {"type": "string"}},
               "rolloutJobs": {"type": "integer"}, "deleteJobs": {"type": "integer"}}},
           responses={"409": _error("no root certificate pool is configured ([pnc] rcp_url)")})
async def rcp_sync(request: web.Request) -> web.Response:
    pnc = _pnc(request)
    if pnc.trust.pool is None:
        raise ApiError(409, "rcp_not_configured", "no root certificate pool is configured "
                       "([pnc] rcp_url)")
    return web.json_response((await pnc.trust.sync()).to_json())


def _dumps(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, dt.datetime):
            return obj.isoformat().replace("+00:00", "Z")
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable")

    return json.dumps(value, default=default)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/pnc/ocpp-command", ocpp_command)
    app.router.add_post("/api/pnc/ocpp-certificates", ocpp_certificates)
    app.router.add_get("/api/pnc/stations/{station_id}/certificates", station_certificates)
    app.router.add_get("/api/pnc/jobs", list_jobs)
    app.router.add_post("/api/pnc/lifecycle/sweep", sweep)
    app.router.add_post("/api/pnc/rcp/sync", rcp_sync)

