"""OCPP 2.0.1 frames: what a station sends to boot, and the transaction mix it loops.

The heartbeat phase is the same as in 1.6. The tx-mix has the same 8 CALLs per cycle: Authorize,
TransactionEvent Started (idToken, EVSE 1 connector 1, a fresh UUID transactionId, the energy
register at Transaction.Begin), 5 x TransactionEvent Updated (4 periodic sampled values each),
TransactionEvent Ended (the idToken presented to stop, as 1.6's StopTransaction carries its idTag,
and the register at Transaction.End). seqNo counts 0..6 within each transaction.
"""

from __future__ import annotations

import json
import time
import uuid

from .common import ID_TAG, METER_VALUES_PER_TX, Dialect
from .station import Recorder, Station, utc_now

SUBPROTOCOL = "ocpp2.0.1"
ID_TOKEN = json.dumps({"idToken": ID_TAG, "type": "ISO14443"}, separators=(",", ":"))
EVSE = '{"id":1,"connectorId":1}'
STARTED = "TransactionEvent Started"
UPDATED = "TransactionEvent Updated"
ENDED = "TransactionEvent Ended"


def boot_notification(sid: str) -> str:
    return json.dumps(
        {
            "reason": "PowerUp",
            "chargingStation": {
                "model": "ocpp_load",
                "vendorName": "pnc-hub-bench",
                "serialNumber": sid,
                "firmwareVersion": "1.0.0",
            },
        }
    )


def status_notification() -> str:
    return f'{{"timestamp":"{utc_now()}","connectorStatus":"Available","evseId":1,"connectorId":1}}'


def _sampled(value: float, measurand: str, unit: str, context: str, location: str) -> dict:
    return {
        "value": value,
        "context": context,
        "measurand": measurand,
        "location": location,
        "unitOfMeasure": {"unit": unit},
    }


def _meter_value(*sampled: dict) -> str:
    return json.dumps(
        [{"timestamp": utc_now(), "sampledValue": list(sampled)}], separators=(",", ":")
    )


def _register(meter_wh: int, context: str) -> str:
    return _meter_value(
        _sampled(meter_wh, "Energy.Active.Import.Register", "Wh", context, "Outlet")
    )


def _periodic(meter_wh: int, power_w: int, soc: int) -> str:
    periodic = "Sample.Periodic"
    return _meter_value(
        _sampled(meter_wh, "Energy.Active.Import.Register", "Wh", periodic, "Outlet"),
        _sampled(power_w, "Power.Active.Import", "W", periodic, "Outlet"),
        _sampled(round(power_w / 230, 1), "Current.Import", "A", periodic, "Outlet"),
        _sampled(soc, "SoC", "Percent", periodic, "EV"),
    )


def _event(event_type: str, trigger: str, seq_no: int, info: str, rest: str) -> str:
    return (
        f'{{"eventType":"{event_type}","timestamp":"{utc_now()}","triggerReason":"{trigger}",'
        f'"seqNo":{seq_no},"transactionInfo":{info}{rest}}}'
    )


def _id_token_status(answer: dict) -> str | None:
    status = (answer.get("idTokenInfo") or {}).get("status")
    return status if isinstance(status, str) else None


async def txmix_loop(st: Station, rec: Recorder) -> None:
    """Authorize, TransactionEvent Started, 5 x Updated, Ended, until the window ends."""
    t_start, t_end = rec.t_start, rec.t_end
    lat = rec.latencies
    perf = time.perf_counter
    by_action = rec.by_action

    async def one(action: str, payload: str, label: str | None = None) -> dict | None:
        label = label or action
        answer, t0, t1 = await st.call(action, payload, rec, label)
        if answer is not None and t_start <= t1 <= t_end:
            rec.count += 1
            by_action[label] += 1
            lat.append(t1 - t0)
        return answer

    while perf() < t_end:
        answer = await one("Authorize", f'{{"idToken":{ID_TOKEN}}}')
        if answer is None:
            continue
        status = _id_token_status(answer)
        if status is None:
            rec.errors.add("Authorize: no idTokenInfo.status", json.dumps(answer))
            continue
        rec.id_tag_status[status] += 1

        tx_id = str(uuid.uuid4())
        answer = await one(
            "TransactionEvent",
            _event(
                "Started",
                "Authorized",
                0,
                f'{{"transactionId":"{tx_id}","chargingState":"Charging"}}',
                f',"idToken":{ID_TOKEN},"evse":{EVSE},'
                f'"meterValue":{_register(st.meter, "Transaction.Begin")}',
            ),
            STARTED,
        )
        if answer is None:
            continue
        if _id_token_status(answer) is None:  # required when the request carries an idToken
            rec.errors.add(f"{STARTED}: no idTokenInfo.status", json.dumps(answer))
            continue

        for i in range(METER_VALUES_PER_TX):
            st.meter += 250
            await one(
                "TransactionEvent",
                _event(
                    "Updated",
                    "MeterValuePeriodic",
                    1 + i,
                    f'{{"transactionId":"{tx_id}","chargingState":"Charging"}}',
                    f',"meterValue":{_periodic(st.meter, 11000 - 100 * i, 20 + i)}',
                ),
                UPDATED,
            )
        answer = await one(
            "TransactionEvent",
            _event(
                "Ended",
                "StopAuthorized",
                1 + METER_VALUES_PER_TX,
                f'{{"transactionId":"{tx_id}","stoppedReason":"Local"}}',
                f',"idToken":{ID_TOKEN},"meterValue":{_register(st.meter, "Transaction.End")}',
            ),
            ENDED,
        )
        if answer is not None:
            rec.transactions += 1


DIALECT = Dialect(
    version="2.0.1",
    title="OCPP 2.0.1",
    subprotocol=SUBPROTOCOL,
    boot_notification=boot_notification,
    status_notification=status_notification,
    txmix_loop=txmix_loop,
    tx_labels=("Authorize", STARTED, UPDATED, ENDED),
    started=STARTED,
    samples={STARTED: 1, UPDATED: 4, ENDED: 1},
)
