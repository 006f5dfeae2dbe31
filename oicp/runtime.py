"""The OICP feature at run time: client, EVSE directory, outbox worker, hooks, authoriser,
remote control, and a sweeper that closes sessions the charger never started or that ran out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.base import utcnow
from hub.db.models import OutboxMessage
from hub.events import SignedMeterValuesReceived
from hub.feature_api import EvseProviders, Hub
from hub.metrics import MetricFamily
from hub.services.plug_and_charge import stations_with_secc_certificate
from hub.services.timestamps import format_timestamp
from oicp import eichrecht, messages, outbox
from oicp.authorize import HubjectAuthorizer
from oicp.client import HubjectClient, Operation
from oicp.config import OicpConfig
from oicp.evse_data import EvseSite, build_records, push_evse_data_request
from oicp.evses import EvseDirectory
from oicp.facts import FactHooks, end_reservation
from oicp.models import AUTHORIZE, EXPIRED, PENDING, REMOTE, RESERVED
from oicp.models import OicpSession as S
from oicp.remote import RemoteControl
from oicp.worker import OutboxWorker

log = logging.getLogger(__name__)
SESSIONS = S.__table__


def loop_time() -> float:
    return asyncio.get_running_loop().time()


@dataclass
class EvseDataPush:
    outbox_id: int | None
    evse_ids: list[str]
    skipped: dict[str, str] = field(default_factory=dict)


class OicpRuntime:
    def __init__(self, hub: Hub, config: OicpConfig,
                 evse_providers: EvseProviders | None = None) -> None:
        self.hub = hub
        self.config = config
        self.client = HubjectClient(config)
        self.directory = EvseDirectory(config.evses, evse_providers)
        self.worker = OutboxWorker(self, self.client)
        self.hooks = FactHooks(self)
        self.authorizer = HubjectAuthorizer(self)
        self.remote = RemoteControl(self)
        self._sweeper: asyncio.Task[None] | None = None
        # The EVSEs the last EVSE data push left out (incomplete data), for the API.
        self.last_skipped: dict[str, Any] = {"checked_at": None, "skipped": {}}

    async def start(self) -> None:
        # Signed meter data (Eichrecht) is kept even while OICP is inactive: the core keeps only
        # a reference to a long 1.6 SignedData value, so this is where the value lives.
        self.hub.bus.on_commit(SignedMeterValuesReceived, eichrecht.keep)
        if not self.config.enabled:
            log.info("OICP is inactive: [oicp] operator_id is not set")
            return
        if self.config.needs_client_certificate:
            log.warning("OICP is on without a client certificate ([oicp] client_cert and "
                        "client_key): %s will refuse the hub's requests (mutual TLS)",
                        self.config.url)
        await self.client.start()
        self.hooks.register()
        self.hub.metric_providers.append(self._metric_families)
        self.hub.remote_authorizers.append(self.authorizer)
        self.worker.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="oicp-sweeper")
        if self.config.pricing:
            await self.push_pricing()
        if self.config.push_evse_data_on_start:
            await self.push_evse_data("fullLoad")

    async def stop(self) -> None:
        await self.worker.stop()
        if self._sweeper is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._sweeper), 3.0)
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self.client.close()

    # -- pushes on demand ----------------------------------------------------------------------

    async def push_evse_data(self, action: str = "fullLoad", evse_ids: list[str] | None = None,
                             evses: list[EvseSite] | None = None) -> EvseDataPush:
        """Queue a PushEvseData built from the sites model as it is now (or from ``evses``)."""
        body, skipped = await self.evse_data_body(action, evse_ids, evses)
        if body is None:
            # Never a fullLoad of nothing: Hubject would delete every EVSE of the operator.
            return EvseDataPush(None, [], skipped)

        async def work(conn: AsyncConnection) -> int:
            return await outbox.enqueue(conn, outbox.EVSE_DATA, action, {"body": body})

        row_id = await self.hub.committer.run(work)
        self.worker.wake()
        records = body["OperatorEvseData"]["EvseDataRecord"]
        return EvseDataPush(row_id, [r["EvseID"] for r in records], skipped)

    async def evse_data_body(self, action: str, evse_ids: list[str] | None = None,
                             evses: list[EvseSite] | None = None
                             ) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """A PushEvseData body of the EVSEs with complete data (None if there is none) and
        the EvseIDs left out, with why."""
        async with self.hub.engine.connect() as conn:
            if evses is None:
                evses = await self.directory.sites(conn, evse_ids)
            secc = await stations_with_secc_certificate(conn, {e.station_id for e in evses})
        records, skipped = build_records(evses, self.config, secc)
        self.last_skipped = {"checked_at": format_timestamp(utcnow()), "published": len(records),
                             "skipped": skipped}
        if not records:
            return None, skipped
        return push_evse_data_request(self.config, records, action), skipped

    async def check_evse_data(self) -> dict[str, Any]:
        """Which EVSEs a push built now would leave out, and why (nothing is sent)."""
        async with self.hub.engine.connect() as conn:
            evses = await self.directory.sites(conn)
            secc = await stations_with_secc_certificate(conn, {e.station_id for e in evses})
        records, skipped = build_records(evses, self.config, secc)
        return {"checked_at": format_timestamp(utcnow()), "published": len(records),
                "skipped": skipped}

    async def request_evse_data_sync(self, reason: str, delay: float = 0.0) -> int | None:
        """Queue a fullLoad built when it is sent (see ``outbox.request_evse_data_sync``)."""
        async def work(conn: AsyncConnection) -> int | None:
            return await outbox.request_evse_data_sync(conn, reason, delay)

        row_id = await self.hub.committer.run(work)
        self.worker.wake()
        return row_id

    async def push_pricing(self) -> list[int]:
        """Queue the configured pricing products, then the EVSE pricing (in that order)."""
        bodies: list[tuple[Operation, dict[str, Any]]] = []
        for product in self.config.pricing.get("products", []):
            data = {"OperatorID": self.config.operator_id, **product}
            if self.config.operator_name:
                data.setdefault("OperatorName", self.config.operator_name)
            bodies.append((Operation.PushPricingProductData,
                           {"ActionType": "fullLoad", "PricingProductData": data}))
        evse_pricing = self.config.pricing.get("evse_pricing")
        if evse_pricing:
            bodies.append((Operation.PushEVSEPricing,
                           {"ActionType": "fullLoad", "EVSEPricing": evse_pricing}))

        async def work(conn: AsyncConnection) -> list[int]:
            return [await outbox.enqueue(conn, outbox.PRICING, op.name,
                                         {"operation": op.name, "body": body})
                    for op, body in bodies]

        ids = await self.hub.committer.run(work) if bodies else []
        self.worker.wake()
        return ids

    async def sync_station(self, station_id: str) -> dict[str, str]:
        """Queue the current OICP status of every published EVSE of a station."""
        async def work(conn: AsyncConnection) -> dict[str, str]:
            refs = await self.directory.for_station(conn, station_id)
            statuses = await self.directory.statuses(conn, refs)
            for evse_id, status in statuses.items():
                await outbox.enqueue_status(conn, evse_id, status)
            return statuses

        statuses = await self.hub.committer.run(work)
        self.worker.wake()
        return statuses

    async def _metric_families(self) -> list[MetricFamily]:
        return await outbox.metric_families(self.hub.engine)

    async def metrics(self) -> dict[str, Any]:
        """Outbox depth and age plus the worker's and client's counters."""
        return {
            "enabled": self.config.enabled,
            "outbox": await outbox.outbox_metrics(self.hub.engine),
            "worker": self.worker.stats(),
            "client": self.client.stats(),
            "authorize": {"start_requests": self.authorizer.authorize_start_requests,
                          "stop_requests": self.authorizer.authorize_stop_requests},
            "evse_data": self.last_skipped,
        }

    # -- sweeping ------------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        interval = max(0.05, min(30.0, self.config.poll_interval * 10))
        started = loop_time()
        offline_checked = False
        last_prune = started
        while True:
            await self.worker.sleep(interval)
            if self.worker.stopping:
                return
            if not self.worker.active:
                # Several hub nodes: the sweep (expiries, offline pushes, periodic fullLoad)
                # runs where the outbox is drained, once per cluster (the drainer's lock).
                continue
            try:
                woke = await self.sweep()
                if not offline_checked and loop_time() - started >= \
                        self.config.offline_grace_seconds:
                    offline_checked = True
                    woke += await self.mark_offline_unknown()
                if loop_time() - last_prune >= 600:
                    last_prune = loop_time()
                    await self.prune()
                if await self._evse_data_full_load_due(loop_time() - started):
                    await self.request_evse_data_sync("periodic fullLoad")
                if woke:
                    self.worker.wake()
            except Exception:
                log.exception("OICP session sweep failed")

    async def _evse_data_full_load_due(self, running_seconds: float) -> bool:
        """True when the last fullLoad finished (delivered, refused or with nothing to publish:
        not retried sooner) ``evse_data_full_load_hours`` ago, or, if there never was one,
        that long after start-up; and none is waiting."""
        interval = self.config.evse_data_full_load_hours * 3600
        if interval <= 0:
            return False
        async with self.hub.engine.connect() as conn:
            waiting = (await conn.execute(sa.select(OutboxMessage.id).where(
                outbox.lane_filter(outbox.EVSE_DATA)).limit(1))).scalar()
            if waiting is not None:
                return False
            last = (await conn.execute(sa.select(sa.func.max(OutboxMessage.delivered_at)).where(
                OutboxMessage.topic == outbox.TOPIC,
                OutboxMessage.ordering_key.in_((outbox.EVSE_DATA_SYNC,
                                                f"{outbox.EVSE_DATA}:fullLoad"))))).scalar()
        if last is None:
            return running_seconds >= interval
        return (utcnow() - last).total_seconds() >= interval

    async def mark_offline_unknown(self) -> int:
        """After a restart no disconnect was seen for stations that were online before it:
        push Unknown for the EVSEs of stations still offline, unless that is the last status
        already queued or sent for them."""
        async def work(conn: AsyncConnection) -> int:
            refs = await self.directory.all(conn)
            statuses = await self.directory.statuses(conn, refs)
            last = await outbox.last_statuses(conn)
            queued = 0
            for evse_id, status in statuses.items():
                if status == "Unknown" and last.get(evse_id) != "Unknown":
                    await outbox.enqueue_status(conn, evse_id, "Unknown")
                    queued += 1
            return queued

        return await self.hub.committer.run(work)

    async def prune(self) -> int:
        """Delete finished outbox rows older than the retention (never a pending one)."""
        cutoff = utcnow() - timedelta(days=self.config.outbox_retention_days)

        async def work(conn: AsyncConnection) -> int:
            result = await conn.execute(sa.delete(OutboxMessage).where(
                OutboxMessage.topic == outbox.TOPIC, OutboxMessage.delivered_at.is_not(None),
                OutboxMessage.delivered_at < cutoff))
            return result.rowcount or 0

        return await self.hub.committer.run(work)

    async def sweep(self) -> int:
        """Expire remote starts no transaction came for; end reservations that ran out."""
        now = utcnow()

        async def work(conn: AsyncConnection) -> int:
            rows = (await conn.execute(sa.select(SESSIONS).where(
                SESSIONS.c.expires_at < now,
                sa.or_(sa.and_(SESSIONS.c.state == PENDING,
                               SESSIONS.c.kind.in_((REMOTE, AUTHORIZE))),
                       SESSIONS.c.state == RESERVED)))).all()
            for row in rows:
                if row.state == RESERVED:
                    await end_reservation(conn, self, row, row.expires_at, now)
                    continue
                await conn.execute(sa.update(SESSIONS).where(
                    SESSIONS.c.session_id == row.session_id).values(state=EXPIRED,
                                                                    updated_at=now))
                if row.kind == REMOTE and self.config.notifications and row.evse_id:
                    body = messages.notification_error(
                        row, self.config.operator_id, "ConnectorError",
                        "no charging started after the remote start")
                    await outbox.enqueue(conn, outbox.NOTIFICATION, row.session_id, body)
            return len(rows)

        return await self.hub.committer.run(work)
