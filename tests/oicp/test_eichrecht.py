"""Eichrecht: signed meter values from a real `ocpp` 1.6 station (sampled values in format
SignedData, OCMF) and a real 2.0.1 station (signedMeterValue) reach the CDR byte for byte as
SignedMeteringValues (Start, at most 8 Progress, End) with CalibrationLawVerificationInfo; the
Hubject double validates every CDR against the OICP 2.3 OpenAPI."""

from __future__ import annotations

import base64
import json
from typing import Any

import sqlalchemy as sa
from ocpp.v16 import call

from hub.db.models import MeterValue
from oicp.models import OicpSignedMeterValue
from oicp.spec import load_spec
from tests.harness import connect_station, connect_station201, now, wait_for
from tests.oicp.conftest import EVCO, EVSE_1, oicp_settings, remote_start_body, session_id, webhook
from tests.oicp.test_end_to_end_201 import EVSE, TOKEN, transaction_event

CDR_PATH = "/cdrmgmt/v22/operators/DE*ABC/charge-detail-record"
VERIFICATION = {EVSE_1: {"CalibrationLawCertificateID": "PTB-1.23-4567890 : V1 : 01Jan2026",
                         "MeteringSignatureUrl": "https://cpo.example/eichrecht",
                         "SignedMeteringValuesVerificationInstruction": "Use S.A.F.E."}}


def ocmf(kind: str, reading: float, n: int = 0) -> str:
    """An OCMF record as a meter signs it; non-ASCII on purpose (kept byte for byte)."""
    payload = {"FV": "1.0", "GI": "Zähler AG Messgerät", "GS": "ACME-0042", "PG": f"T{n}",
               "RD": [{"TM": "2026-12-05T21:00:00,000+0000 S", "TX": kind, "RV": reading,
                       "RI": "01-00:98.08.00.FF", "RU": "kWh", "ST": "G"}]}
    signature = {"SA": "ECDSA-secp256r1-SHA256", "SD": f"3045022100{n:064x}0220{n:064x}"}
    return f"OCMF|{json.dumps(payload, ensure_ascii=False)}|{json.dumps(signature)}"


def signed16(value: str, context: str) -> list[dict[str, Any]]:
    return [{"timestamp": now(), "sampled_value": [{
        "value": value, "context": context, "format": "SignedData",
        "measurand": "Energy.Active.Import.Register", "unit": "kWh"}]}]


def _cdr(mock: Any) -> dict[str, Any]:
    (cdr,) = mock.accepted("ChargeDetailRecord")
    spec = load_spec()
    if spec is not None:
        assert spec.request_errors(CDR_PATH, cdr) == []
    return cdr


async def test_signed_values_from_a_16_station(hub_factory, mock) -> None:
    running = await hub_factory(dev=True, oicp=oicp_settings(
        mock, calibration_law_verification=VERIFICATION), ocpp={"call_timeout": 5})
    begin, end = ocmf("B", 1.0), ocmf("E", 12.345, 99)
    periodic = [ocmf("T", 1.0 + i, i + 1) for i in range(10)]
    too_long = ocmf("T", 5.5, 77) + " " * 3000
    sid = session_id()
    async with connect_station(running, "CP-1") as station:
        await station.boot()
        code, _ = await webhook(running, "start", remote_start_body(sid))
        assert code == 200
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag=EVCO.upper(), meter_start=1000, timestamp=now()))
        tx = started.transaction_id
        await station.call(call.MeterValues(connector_id=1, transaction_id=tx,
                                            meter_value=signed16(begin, "Transaction.Begin")))
        for value in [*periodic[:5], too_long, *periodic[5:]]:
            await station.call(call.MeterValues(connector_id=1, transaction_id=tx,
                                                meter_value=signed16(value, "Sample.Periodic")))
        await station.call(call.StopTransaction(
            meter_stop=12345, timestamp=now(), transaction_id=tx, reason="Remote",
            # The Begin value again (stations repeat it) and the End value.
            transaction_data=[*signed16(begin, "Transaction.Begin"),
                              *signed16(end, "Transaction.End")]))
        await wait_for(lambda: mock.accepted("ChargeDetailRecord"))
    cdr = _cdr(mock)
    values = cdr["SignedMeteringValues"]
    assert [v["MeteringStatus"] for v in values] == ["Start", *["Progress"] * 8, "End"]
    assert values[0]["SignedMeteringValue"] == begin  # byte for byte, umlauts included
    assert values[-1]["SignedMeteringValue"] == end
    progress = [v["SignedMeteringValue"] for v in values[1:-1]]
    assert progress[0] == periodic[0] and progress[-1] == periodic[-1]
    assert set(progress) <= set(periodic) and len(set(progress)) == 8  # too_long left out
    assert cdr["CalibrationLawVerificationInfo"] == {
        **VERIFICATION[EVSE_1], "MeteringSignatureEncodingFormat": "OCMF"}


async def test_signed_values_from_a_201_station(hub_factory, mock) -> None:
    running = await hub_factory(dev=True, oicp=oicp_settings(mock), ocpp={"call_timeout": 5})
    key = base64.b64encode(b"\x04" + bytes(range(64))).decode()
    signed = {kind: base64.b64encode(ocmf(kind, reading).encode()).decode()
              for kind, reading in (("B", 1.0), ("T", 6.5), ("E", 12.345))}

    def reading(value: float, kind: str, context: str) -> list[dict[str, Any]]:
        return [{"timestamp": now(), "sampled_value": [{
            "value": value, "context": context, "measurand": "Energy.Active.Import.Register",
            "unit_of_measure": {"unit": "Wh"}, "signed_meter_value": {
                "signed_meter_data": signed[kind], "signing_method": "ECDSA-secp256r1-SHA256",
                "encoding_method": "OCMF", "public_key": key}}]}]

    sid = session_id()
    async with connect_station201(running, "CP-1") as cp:
        await cp.boot()
        code, _ = await webhook(running, "start", remote_start_body(sid))
        assert code == 200
        remote = [r for r in cp.received if r.action == "RequestStartTransaction"]
        await cp.call(transaction_event(
            "Started", 0, "RemoteStart", charging_state="EVConnected",
            remote_start_id=remote[0].payload["remote_start_id"], evse=EVSE, id_token=TOKEN,
            meter_value=reading(1000, "B", "Transaction.Begin")), suppress=False)
        await cp.call(transaction_event("Updated", 1, "MeterValuePeriodic",
                                        meter_value=reading(6500, "T", "Sample.Periodic")),
                      suppress=False)
        await cp.call(transaction_event("Ended", 2, "RemoteStop", stopped_reason="Remote",
                                        evse=EVSE,
                                        meter_value=reading(12345, "E", "Transaction.End")),
                      suppress=False)
        await wait_for(lambda: mock.accepted("ChargeDetailRecord"))
    cdr = _cdr(mock)
    assert cdr["SignedMeteringValues"] == [
        {"SignedMeteringValue": signed["B"], "MeteringStatus": "Start"},
        {"SignedMeteringValue": signed["T"], "MeteringStatus": "Progress"},
        {"SignedMeteringValue": signed["E"], "MeteringStatus": "End"}]
    assert cdr["CalibrationLawVerificationInfo"] == {"PublicKey": key,
                                                     "MeteringSignatureEncodingFormat": "OCMF"}
    assert cdr["MeterValueStart"] == 1.0 and cdr["MeterValueEnd"] == 12.345


async def test_no_signed_values_no_eichrecht_fields(oicp_hub, mock) -> None:
    sid = session_id()
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await webhook(oicp_hub, "start", remote_start_body(sid))
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag=EVCO.upper(), meter_start=0, timestamp=now()))
        await station.call(call.StopTransaction(meter_stop=500, timestamp=now(),
                                                transaction_id=started.transaction_id))
        await wait_for(lambda: mock.accepted("ChargeDetailRecord"))
    cdr = _cdr(mock)
    assert "SignedMeteringValues" not in cdr and "CalibrationLawVerificationInfo" not in cdr


async def test_signed_values_are_kept_while_oicp_is_inactive(hub_factory) -> None:
    """A long 1.6 SignedData value does not fit the core's meter_values column (64): the core
    keeps a reference, the whole value is kept with the transaction, on every backend."""
    running = await hub_factory(dev=True)  # no [oicp] operator_id
    value = ocmf("B", 1.0, 5)
    assert len(value) > 64
    async with connect_station(running, "CP-EICH") as station:
        await station.boot()
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag="TAG1", meter_start=0, timestamp=now()))
        await station.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                            meter_value=signed16(value, "Transaction.Begin")))
    async with running.hub.engine.connect() as conn:
        kept = (await conn.execute(sa.select(OicpSignedMeterValue.signed_data))).scalars().all()
        stored = (await conn.execute(sa.select(MeterValue.value, MeterValue.format).where(
            MeterValue.station_id == "CP-EICH"))).all()
    assert kept == [value]
    assert [(v.startswith("signed:"), f) for v, f in stored] == [(True, "SignedData")]
