"""Transaction history (with CSV export) and the hub's connection details."""

from __future__ import annotations

import csv
import io

from aiohttp import web
from yarl import URL

from hub.console import estate
from hub.console.guard import current_user, page
from hub.console.render import render
from hub.context import HUB
from hub.feature_api import CONFIG
from hub.openapi import query

FILTERS = [query("status", {"type": "string", "enum": ["", "active", "completed"]}),
           query("station", {"type": "string", "maxLength": 48}),
           query("page", {"type": "integer", "minimum": 1})]
CSV_COLUMNS = ["id", "station_id", "connector_id", "id_tag", "status", "start_timestamp",
               "stop_timestamp", "meter_start", "meter_stop", "energy_wh", "stop_reason"]
CSV_LIMIT = 100_000


def _filters(request: web.Request) -> dict[str, str]:
    return {"status": request.query.get("status", ""),
            "station": request.query.get("station", "")[:48].strip()}


@page("Transaction history", parameters=FILTERS)
async def transactions(request: web.Request) -> web.Response:
    filters = _filters(request)
    page_no = request.query.get("page", "1")
    number = int(page_no) if page_no.isdigit() and int(page_no) > 0 else 1
    rows = await estate.transactions(request.config_dict[HUB],
                                     current_user(request).organisation_key, page=number,
                                     **filters)
    return render(request, "transactions.html", rows=rows, page=number,
                  more=len(rows) == estate.PAGE_SIZE, **filters)


@page("Transaction history as CSV (the same filters)", parameters=FILTERS[:2],
      response_type="text/csv", example=",".join(CSV_COLUMNS) + "\n")
async def transactions_csv(request: web.Request) -> web.Response:
    rows = await estate.transactions(request.config_dict[HUB],
                                     current_user(request).organisation_key, size=CSV_LIMIT,
                                     **_filters(request))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, column)) for column in CSV_COLUMNS])
    return web.Response(text=out.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": "attachment; filename=transactions.csv",
        "Cache-Control": "no-store"})


def _cell(value: object) -> str:
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    # A cell a spreadsheet would run as a formula gets a leading quote (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@page("How chargers connect: OCPP URLs, TLS and security profiles")
async def connection_info(request: web.Request) -> web.Response:
    config = request.config_dict[CONFIG]
    server = config.server
    tls = bool(server.tls_cert)
    base = server.public_url.rstrip("/") or (
        f"{'wss' if tls else 'ws'}://{request.host}")
    profiles = ["1 (HTTP Basic)", "2 (TLS + HTTP Basic)"] if tls else ["1 (HTTP Basic)"]
    if tls and server.tls_client_ca:
        profiles.append("3 (TLS client certificates)")
    return render(request, "connection_info.html", endpoint=f"{base}/ocpp/{{station_id}}",
                  bare=f"{base}/{{station_id}}" if server.bare_station_path else None,
                  tls=tls, profiles=profiles, client_certs=server.tls_require_client_cert,
                  heartbeat=config.ocpp.heartbeat_interval,
                  mqtt=_mqtt(config.section("mqtt")))


def _mqtt(section: dict[str, object]) -> dict[str, str]:
    """What may be shown of the MQTT settings: no credentials (a URL loses its user info)."""
    shown = {}
    for key in ("url", "host", "port", "topic_prefix"):
        if key in section:
            value = str(section[key])
            shown[key] = str(URL(value).with_user(None)) if key == "url" else value
    return shown


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/transactions", transactions, name="transactions")
    r.add_get("/transactions.csv", transactions_csv)
    r.add_get("/op_connection_info", connection_info, name="op_connection_info")
