"""OCPP 1.6J frames: what a station sends to boot, and the transaction mix it loops."""

from __future__ import annotations

import json
import time

from .common import ID_TAG, METER_VALUES_PER_TX, Dialect
from .station import Recorder, Station, utc_now

SUBPROTOCOL = "ocpp1.6"


def boot_notification(sid: str) -> str:
    return json.dumps(
        {
            "chargePointVendor": "pnc-hub-bench",
            "chargePointModel": "ocpp_load",
            "chargePointSerialNumber": sid,
            "firmwareVersion": "1.0.0",
        }
    )


def status_notification() -> str:
    return (
        f'{{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"{utc_now()}"}}'
    )


def _sampled_values(meter_wh: int, power_w: int, soc: int) -> str:
    return json.dumps(
        [
            {
                "value": str(meter_wh),
                "context": "Sample.Periodic",
                "measurand": "Energy.Active.Import.Register",
                "location": "Outlet",
                "unit": "Wh",
            },
            {
                "value": str(power_w),
                "context": "Sample.Periodic",
                "measurand": "Power.Active.Import",
                "location": "Outlet",
                "unit": "W",
            },
            {
                "value": f"{power_w / 230:.1f}",
                "context": "Sample.Periodic",
                "measurand": "Current.Import",
                "location": "Outlet",
                "unit": "A",
            },
            {
                "value": str(soc),
                "context": "Sample.Periodic",
                "measurand": "SoC",
                "location": "EV",
                "unit": "Percent",
            },
        ],
        separators=(",", ":"),
    )


async def txmix_loop(st: Station, rec: Recorder) -> None:
    """Authorize, StartTransaction, 5 x MeterValues, StopTransaction, until the window ends."""
    t_start, t_end = rec.t_start, rec.t_end
    lat = rec.latencies
    perf = time.perf_counter
    by_action = rec.by_action

    async def one(action: str, payload: str) -> dict | None:
        answer, t0, t1 = await st.call(action, payload, rec)
        if answer is not None and t_start <= t1 <= t_end:
            rec.count += 1
            by_action[action] += 1
            lat.append(t1 - t0)
        return answer

    while perf() < t_end:
        answer = await one("Authorize", f'{{"idTag":"{ID_TAG}"}}')
        if answer is None:
            continue
        status = (answer.get("idTagInfo") or {}).get("status")
        if not isinstance(status, str):
            rec.errors.add("Authorize: no idTagInfo.status", json.dumps(answer))
            continue
        rec.id_tag_status[status] += 1

        meter_start = st.meter
        answer = await one(
            "StartTransaction",
            f'{{"connectorId":1,"idTag":"{ID_TAG}","meterStart":{meter_start},'
            f'"timestamp":"{utc_now()}"}}',
        )
        if answer is None:
            continue
        tx_id = answer.get("transactionId")
        if not isinstance(tx_id, int) or isinstance(tx_id, bool):
            rec.errors.add("StartTransaction: no integer transactionId", json.dumps(answer))
            continue

        for i in range(METER_VALUES_PER_TX):
            st.meter += 250
            values = _sampled_values(st.meter, 11000 - 100 * i, 20 + i)
            await one(
                "MeterValues",
                f'{{"connectorId":1,"transactionId":{tx_id},"meterValue":'
                f'[{{"timestamp":"{utc_now()}","sampledValue":{values}}}]}}',
            )
        answer = await one(
            "StopTransaction",
            f'{{"idTag":"{ID_TAG}","meterStop":{st.meter},"timestamp":"{utc_now()}",'
            f'"transactionId":{tx_id},"reason":"Local"}}',
        )
        if answer is not None:
            rec.transactions += 1


DIALECT = Dialect(
    version="1.6",
    title="OCPP 1.6J",
    subprotocol=SUBPROTOCOL,
    boot_notification=boot_notification,
    status_notification=status_notification,
    txmix_loop=txmix_loop,
    tx_labels=("Authorize", "StartTransaction", "MeterValues", "StopTransaction"),
    started="StartTransaction",
    samples={"MeterValues": 4},
)
