"""GDPR at the station: CustomerInformation asks a 2.0.1 station to report and/or clear what
it keeps about a customer (id token, customer identifier); the report arrives in parts
(NotifyCustomerInformation) and is kept by hub.services.report_parts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hub.context import Hub
from hub.services import ocpp_commands, report_parts
from hub.services.station_commands import new_request_id


@dataclass(frozen=True)
class Ask:
    report: bool
    clear: bool
    customer_identifier: str | None = None
    id_token: dict[str, str] | None = None  # {"idToken", "type"}


@dataclass(frozen=True)
class Outcome:
    status: str
    request_id: int
    complete: bool
    data: str | None  # the report's text as far as it arrived


async def request(hub: Hub, station_id: str, ask: Ask, timeout: float | None = None,
                  wait: float = 10.0) -> Outcome:
    request_id = new_request_id()
    payload: dict[str, object] = {"requestId": request_id, "report": ask.report,
                                  "clear": ask.clear}
    if ask.customer_identifier:
        payload["customerIdentifier"] = ask.customer_identifier
    if ask.id_token:
        payload["idToken"] = ask.id_token
    sent = await ocpp_commands.send_command(hub, station_id, "CustomerInformation", payload,
                                            timeout)
    status = sent.answer["status"]
    report = None
    if status == "Accepted" and ask.report and wait > 0:
        report = await wait_for_report(hub, station_id, request_id, wait)
    return Outcome(status, request_id, bool(report and report.complete),
                   report.text if report else None)


async def wait_for_report(hub: Hub, station_id: str, request_id: int, wait: float
                          ) -> report_parts.AssembledReport | None:
    """The parts arrive on the station's socket after its answer: poll until the last one
    (or the deadline) and return what arrived."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        report = await report_parts.assembled(hub, station_id,
                                              report_parts.CUSTOMER_INFORMATION, request_id)
        if (report and report.complete) or loop.time() >= deadline:
            return report
        await asyncio.sleep(0.05)
