"""The canonical site objects, loaded with a constant number of queries per request.

Whatever the page size, a request runs at most ``MAX_QUERIES`` statements: the sites (with
organisation and local controller), their chargers (with the OCPP station), their ports (with
the OCPP connector, the running transaction and the card that started it), the live readings
of the running sessions, their first SoC, the fuse nodes and the fuse nodes' connectors. Every
query selects by the page's site ids, never per site, charger or port (the Flipturn view, which
has no paging, is streamed a page at a time).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub.db.models import Connector, LatestReading, MeterValue, Station, Transaction
from hub.db.models_blocks import TransactionCost
from sites_api.columns import SITE_IDS, raw, ts
from sites_api.fuse_trees import load_fuse_trees
from sites_api.models import (
    CONNECTOR_TYPES,
    Charger,
    LocalController,
    Organisation,
    Port,
    RfidCard,
    Site,
    Vehicle,
)
from sites_api.readings import MEASURANDS, SOC, Sample, energy_delivered_kwh, latest_readings

MAX_QUERIES = 7
S = Site.__table__
O = Organisation.__table__  # noqa: E741
LC = LocalController.__table__
C = Charger.__table__
P = Port.__table__
ST = Station.__table__
CO = Connector.__table__
T = Transaction.__table__
LR = LatestReading.__table__
MV = MeterValue.__table__
TC = TransactionCost.__table__
RC = RfidCard.__table__
V = Vehicle.__table__


@dataclass(frozen=True)
class Scope:
    """Whose sites a request may see: every organisation's (admin) or one organisation's."""

    organisation_key: str | None
    everything: bool = False

    def condition(self) -> sa.ColumnElement[bool]:
        if self.everything:
            return sa.true()
        if self.organisation_key is None:
            return sa.false()
        return O.c.key == self.organisation_key

    def parameters(self) -> dict[str, Any]:
        """The values of ``bound_condition`` (a NULL key matches no organisation)."""
        return {} if self.everything else {"org_key": self.organisation_key}


def bound_condition(everything: bool) -> sa.ColumnElement[bool]:
    """``Scope.condition`` with the organisation as a parameter, for statements built once."""
    return sa.true() if everything else O.c.key == sa.bindparam("org_key")


_SITE_COLUMNS = (
    S.c.id, S.c.name, S.c.reference_id, S.c.status, S.c.timezone, S.c.address, S.c.street,
    S.c.house_number, S.c.postal_code, S.c.city, S.c.region, S.c.country, S.c.latitude,
    S.c.longitude, S.c.version, raw(S.c.created_at), raw(S.c.updated_at),
    O.c.key.label("org_key"), O.c.name.label("org_name"), O.c.id.label("org_id"),
    LC.c.id.label("lc_id"), LC.c.name.label("lc_name"), LC.c.serial_no.label("lc_serial_no"),
    LC.c.device_id.label("lc_device_id"),
)


def sites_query(condition: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (sa.select(*_SITE_COLUMNS)
            .select_from(S.join(O, O.c.id == S.c.organisation_id)
                         .outerjoin(LC, LC.c.site_id == S.c.id))
            .where(condition))


@dataclass
class Page:
    data: list[dict[str, Any]]
    has_more: bool


@functools.cache
def _page_query(everything: bool, by_reference: bool, after: bool, before: bool
                ) -> sa.Select[Any]:
    """The page statement for one combination of filters, built once (parameters bound later)."""
    query = sites_query(bound_condition(everything))
    if by_reference:
        query = query.where(S.c.reference_id == sa.bindparam("reference_id"))
    if after:
        query = query.where(S.c.id > sa.bindparam("starting_after"))
    if before:
        query = query.where(S.c.id < sa.bindparam("ending_before"))
    return query.order_by(S.c.id.desc() if before else S.c.id).limit(sa.bindparam("limit"))


@functools.cache
def _site_query(everything: bool) -> sa.Select[Any]:
    return sites_query(bound_condition(everything)).where(S.c.id == sa.bindparam("site_id"))


def load_page(conn: sa.Connection, scope: Scope, *, limit: int,
              starting_after: int | None = None, ending_before: int | None = None,
              reference_id: str | None = None) -> Page:
    """One page in id order; ``has_more`` says whether more sites lie in the walk direction."""
    backwards = ending_before is not None
    query = _page_query(scope.everything, reference_id is not None, starting_after is not None,
                        backwards)
    rows = conn.execute(query, {
        **scope.parameters(), "reference_id": reference_id, "starting_after": starting_after,
        "ending_before": ending_before, "limit": limit + 1}).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    sites = _assemble(conn, rows, [r.id for r in rows])
    return Page(sites, has_more)


def load_site(conn: sa.Connection, scope: Scope, site_id: int) -> dict[str, Any] | None:
    rows = conn.execute(_site_query(scope.everything),
                        {**scope.parameters(), "site_id": site_id}).all()
    if not rows:
        return None
    return (_assemble(conn, rows, [site_id]))[0]


def _assemble(conn: sa.Connection, site_rows: Sequence[Any], site_ids: list[int]
              ) -> list[dict[str, Any]]:
    chargers = _chargers(conn, site_ids)
    ports, sessions = _ports(conn, site_ids)
    samples = _readings(conn, site_ids) if sessions else {}
    soc_start = _soc_start(conn, site_ids) if sessions else {}
    trees = load_fuse_trees(conn, site_ids)

    for (station_id, port_number), session in sessions.items():
        tx = session.pop("_tx")
        start, meter_start = session.pop("_start"), session.pop("_meter_start")
        mine = [s for s in samples.get((station_id, port_number), ())
                if s[0] == tx or (s[0] is None and s[1].timestamp >= start)]
        mine_samples = [s[1] for s in mine]
        readings = latest_readings(mine_samples)
        for reading in readings.values():
            if reading is not None:
                reading["timestamp"] = ts(reading["timestamp"])
        session["latest_readings"] = readings
        session["energy_delivered_kwh"] = energy_delivered_kwh(mine_samples, meter_start)
        session["soc_start_percent"] = soc_start.get(tx)

    result = []
    for r in site_rows:
        site_chargers = chargers.get(r.id, [])
        devices = []
        for charger in site_chargers:
            charger_ports = ports.get(int(charger["id"]), [])
            charger["ports"] = charger_ports
            charger["number_of_ports"] = len(charger_ports)
            charger["power_sharing"] = len(charger_ports) > 1
            if charger["latitude"] is None and charger["longitude"] is None:
                charger["latitude"], charger["longitude"] = r.latitude, r.longitude
            devices.append(_device(charger))
        for charger in site_chargers:
            charger.pop("_created_at")
            charger.pop("_last_seen")
        result.append({
            "id": str(r.id),
            "object": "site",
            "live_mode": True,
            "name": r.name,
            "reference_id": r.reference_id,
            "status": r.status,
            "timezone": r.timezone,
            "address": r.address or compose_address(r),
            "street": r.street,
            "house_number": r.house_number,
            "postal_code": r.postal_code,
            "city": r.city,
            "region": r.region,
            "country": r.country,
            "latitude": r.latitude,
            "longitude": r.longitude,
            "organization": {"id": r.org_key, "name": r.org_name},
            "account_id": r.org_key,
            "local_controller": None if r.lc_id is None else {
                "id": str(r.lc_id), "name": r.lc_name, "serial_no": r.lc_serial_no,
                "device_id": r.lc_device_id},
            "fuse_tree": trees.get(r.id, []),
            "chargers": site_chargers,
            "devices": devices,
            "time_created": ts(r.created_at),
            "time_updated": ts(r.updated_at),
            "version": r.version,
            # For the Flipturn view only (numeric ids); ``public`` removes it.
            "_organization_number": r.org_id,
        })
    return result


def public(site: dict[str, Any]) -> dict[str, Any]:
    """The canonical object as served (drops what only other views use)."""
    site.pop("_organization_number", None)
    return site


def compose_address(r: Any) -> str | None:
    """"Street 12, 10115 Berlin, DEU" from the parts that are set (None when none is)."""
    street = " ".join(p for p in (r.street, r.house_number) if p)
    city = " ".join(p for p in (r.postal_code, r.city) if p)
    parts = [p for p in (street, city, r.region, r.country) if p]
    return ", ".join(parts) or None


def _device(charger: dict[str, Any]) -> dict[str, Any]:
    """The charger as one of Flatpeak's site ``devices``."""
    powers = [p["maximum_power_kw"] for p in charger["ports"]
              if p["maximum_power_kw"] is not None]
    return {
        "id": charger["id"],
        "manufacturer": charger["manufacturer"],
        "model_code": charger["model"],
        "model_name": charger["model"],
        "time_created": charger["_created_at"],
        "properties": {
            "power_rating_import_kwh": sum(powers) if powers else None,
            "capacity_kwh": None,
            "power_rating_export_kwh": None,
        },
        "last_seen": charger["_last_seen"],
    }


def _chargers_query() -> sa.Select[Any]:
    return (sa.select(
        C.c.id, C.c.site_id, C.c.name, C.c.station_id, C.c.manufacturer, C.c.model,
        C.c.serial_number, C.c.firmware_version, C.c.latitude, C.c.longitude, C.c.external_id,
        C.c.type, raw(C.c.created_at), ST.c.vendor, ST.c.model, ST.c.serial_number,
        ST.c.charge_box_serial_number, ST.c.firmware_version, ST.c.connected,
        raw(ST.c.connected_at), raw(ST.c.disconnected_at), raw(ST.c.last_seen_at))
        .select_from(C.outerjoin(ST, ST.c.id == C.c.station_id))
        .where(C.c.site_id.in_(SITE_IDS))
        .order_by(C.c.site_id, C.c.id))


def _chargers(conn: sa.Connection, site_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    # Tuples, not attribute access: this loop runs for every charger of the page.
    for (charger_id, site_id, name, station_id, manufacturer, model, serial, firmware, lat, lon,
         external_id, kind, created_at, st_vendor, st_model, st_serial, st_box, st_firmware,
         connected, connected_at, disconnected_at, last_seen_at) in conn.execute(
            _CHARGERS, {"site_ids": site_ids}):
        if connected:
            connection: dict[str, Any] | None = {"status": "Connected",
                                                 "timestamp": ts(connected_at)}
        elif connected_at is not None or disconnected_at is not None:
            connection = {"status": "Disconnected",
                          "timestamp": ts(disconnected_at or connected_at)}
        else:
            connection = None  # never connected
        out[site_id].append({
            "id": str(charger_id),
            "name": name,
            "manufacturer": manufacturer or st_vendor,
            "model": model or st_model,
            "serial_number": serial or st_serial or st_box,
            "firmware_version": firmware or st_firmware,
            "latitude": lat,
            "longitude": lon,
            "external_id": external_id,
            "ocpp_id": station_id,
            "type": kind,
            "power_sharing": False,
            "connection_status": connection,
            "number_of_ports": 0,
            "ports": [],
            "_created_at": ts(created_at),
            "_last_seen": ts(last_seen_at),
        })
    return out


def _ports_query() -> sa.Select[Any]:
    card_join = sa.and_(RC.c.id_tag == T.c.id_tag, RC.c.organisation_id == S.c.organisation_id)
    return (sa.select(
        P.c.id, P.c.charger_id, P.c.name, P.c.port_number, P.c.maximum_power_kw,
        P.c.connector_type, P.c.power_type, P.c.evse_id, C.c.station_id,
        CO.c.status, CO.c.error_code, CO.c.info, CO.c.vendor_error_code,
        raw(CO.c.status_timestamp),
        T.c.id.label("tx_id"), raw(T.c.start_timestamp), T.c.id_tag, T.c.meter_start,
        T.c.ocpp_transaction_id, RC.c.id.label("card_id"), RC.c.name.label("card_name"),
        RC.c.customer_name, V.c.id.label("vehicle_id"), V.c.make.label("vehicle_make"),
        V.c.model.label("vehicle_model"), V.c.name.label("vehicle_name"),
        V.c.vin.label("vehicle_vin"), TC.c.currency.label("cost_currency"),
        TC.c.net.label("cost_net"), TC.c.total.label("cost_total"))
        .select_from(
            P.join(C, C.c.id == P.c.charger_id)
            .join(S, S.c.id == C.c.site_id)
            .outerjoin(CO, sa.and_(CO.c.station_id == C.c.station_id,
                                   CO.c.connector_id == P.c.port_number))
            .outerjoin(T, sa.and_(T.c.id == CO.c.current_transaction_id,
                                  T.c.status == "active"))
            .outerjoin(RC, card_join)
            .outerjoin(V, V.c.id == RC.c.vehicle_id)
            # The running cost (hub.services.tariffs), in the same query: no extra round trip.
            .outerjoin(TC, TC.c.transaction_id == T.c.id))
        .where(C.c.site_id.in_(SITE_IDS))
        .order_by(P.c.charger_id, P.c.port_number))


def _ports(conn: sa.Connection, site_ids: list[int]
           ) -> tuple[dict[int, list[dict[str, Any]]], dict[tuple[str, int], dict[str, Any]]]:
    ports: dict[int, list[dict[str, Any]]] = defaultdict(list)
    sessions: dict[tuple[str, int], dict[str, Any]] = {}
    for (port_id, charger_id, name, port_number, max_kw, connector_type, power_type, evse_id,
         station_id, status, error_code, info, vendor_error_code, status_timestamp, tx_id,
         start_timestamp, id_tag, meter_start, ocpp_transaction_id, card_id, card_name,
         customer_name, vehicle_id, vehicle_make, vehicle_model, vehicle_name, vehicle_vin,
         cost_currency, cost_net, cost_total) in (
            conn.execute(_PORTS, {"site_ids": site_ids})):
        session = None
        if tx_id is not None:
            ocpp_tx = tx_id if ocpp_transaction_id is None else (
                int(ocpp_transaction_id) if ocpp_transaction_id.isdigit() else None)
            session = {
                "id": str(tx_id),
                "start_time": ts(start_timestamp),
                "soc_start_percent": None,
                "energy_delivered_kwh": 0.0,
                "ocpp_id_tag": id_tag,
                "ocpp_transaction_id": ocpp_tx,
                "latest_readings": None,
                "vehicle": None if vehicle_id is None else {
                    "id": str(vehicle_id), "make": vehicle_make, "model": vehicle_model,
                    "name": vehicle_name, "vin": vehicle_vin},
                "rfid": None if card_id is None else {"id": str(card_id), "name": card_name},
                "customer": None if not customer_name else {"name": customer_name},
                "cost": None if cost_currency is None else {
                    "currency": cost_currency, "net": cost_net, "total": cost_total},
                "_tx": tx_id, "_start": start_timestamp, "_meter_start": meter_start,
            }
            sessions[(station_id, port_number)] = session
        ports[charger_id].append({
            "id": str(port_id),
            "name": name,
            "port_number": port_number,
            "maximum_power_kw": max_kw,
            "connector_type": connector_type,
            "plug": CONNECTOR_TYPES.get(connector_type),
            "power_type": power_type,
            "evse_id": evse_id,
            "ocpp_status": None if status is None else {
                "status": status,
                "timestamp": ts(status_timestamp),
                "error_code": error_code or "NoError",
                "vendor_error_code": vendor_error_code,
                "info": info,
            },
            "current_charging_session": session,
        })
    return ports, sessions


def _active_ports() -> sa.Select[Any]:
    """(station, connector, transaction) of the page's ports with a running session."""
    return (sa.select(CO.c.station_id, CO.c.connector_id, CO.c.current_transaction_id)
            .select_from(P.join(C, C.c.id == P.c.charger_id)
                         .join(CO, sa.and_(CO.c.station_id == C.c.station_id,
                                           CO.c.connector_id == P.c.port_number)))
            .where(C.c.site_id.in_(SITE_IDS), CO.c.current_transaction_id.is_not(None)))


def _readings_query() -> sa.Select[Any]:
    active = _active_ports().subquery()
    return (sa.select(LR.c.station_id, LR.c.connector_id, LR.c.measurand, LR.c.phase,
                       LR.c.location, LR.c.numeric_value, LR.c.unit, raw(LR.c.timestamp),
                       LR.c.transaction_id)
             .select_from(LR.join(active, sa.and_(
                 active.c.station_id == LR.c.station_id,
                 active.c.connector_id == LR.c.connector_id)))
             .where(LR.c.measurand.in_(MEASURANDS), LR.c.numeric_value.is_not(None)))


def _readings(conn: sa.Connection, site_ids: list[int]
              ) -> dict[tuple[str, int], list[tuple[int | None, Sample]]]:
    out: dict[tuple[str, int], list[tuple[int | None, Sample]]] = defaultdict(list)
    # Raw times (see ``columns.ts``) compare in time order: both sides come from one column type.
    for (station_id, connector_id, measurand, phase, location, value, unit, timestamp,
         transaction_id) in conn.execute(_READINGS, {"site_ids": site_ids}):
        out[(station_id, connector_id)].append((transaction_id, Sample(
            measurand, phase, location, value, unit, timestamp)))
    return out


def _soc_start_query() -> sa.Select[Any]:
    active = _active_ports().with_only_columns(CO.c.current_transaction_id)
    first = (sa.select(MV.c.transaction_id, sa.func.min(MV.c.id).label("first_id"))
             .where(MV.c.transaction_id.in_(active), MV.c.measurand == SOC,
                    MV.c.numeric_value.is_not(None))
             .group_by(MV.c.transaction_id).subquery())
    return sa.select(MV.c.transaction_id, MV.c.numeric_value).select_from(
        MV.join(first, MV.c.id == first.c.first_id))


def _soc_start(conn: sa.Connection, site_ids: list[int]) -> dict[int, float]:
    """The first SoC each running session reported (the EV's state of charge at plug-in)."""
    return {tx: soc for tx, soc in conn.execute(_SOC_START, {"site_ids": site_ids})}


# Built once, executed with the page's site ids (see ``columns.SITE_IDS``).
_CHARGERS = _chargers_query()
_PORTS = _ports_query()
_READINGS = _readings_query()
_SOC_START = _soc_start_query()
