"""The load manager: re-plans a site when something changes, and sends the limits that moved.

Re-plans on transaction start and end, tree edits and stations coming and going (one task per
site at a time; events arriving meanwhile coalesce into one more round); on readings (a
connector's MeterValues, a site meter's reading from the API or MQTT) at most once per
``replan_interval`` per site, from what is held in memory (no database read per reading).
Each round:

- stations that are offline, or refused a profile since they last connected, are planned at
  their maximum (the hub cannot steer them; the rest is planned around them);
- a connector whose last limit went out less than ``min_interval`` ago is held at that limit
  (it may not move yet), and the site is re-planned when the interval is over; meanwhile the
  others get no more than their share without the hold (no leapfrogging);
- a site meter's reading older than ``meter_max_age`` counts as missing: the planner uses the
  meter's ``fallback_value`` (the site is re-planned when a reading goes stale);
- a car that draws less than its limit, judged ``settle`` seconds after the limit went out,
  is planned at what it draws plus ``demand_margin`` (``measurements.next_demand``): what it
  does not draw goes to the others until it draws up to its limit again;
- a limit is sent (a TxProfile on the running transaction, both OCPP versions through
  ``hub.services.charging_profiles``) only when it moves by more than ``hysteresis``;
  decreases go first and are awaited, so the limits the stations hold never add up past a
  node's limit on the way; when a decrease fails, the increases wait for the next round.

Settings: ``[load]`` (``sites_api.load.settings``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aiohttp import web

from hub.commands import CallError, CallTimeout, CommandFailed, StationOffline
from hub.db.base import utcnow
from hub.events import (
    MeterValuesReceived,
    StationConnected,
    StationDisconnected,
    TransactionEnded,
    TransactionStarted,
)
from hub.feature_api import Hub
from hub.services import charging_profiles
from hub.services.station_commands import UnknownTransaction
from sites_api.load.fallbacks import Fallbacks
from sites_api.load.measurements import (
    Measured,
    connector_current,
    level_at_least,
    next_demand,
)
from sites_api.load.model import PHASES, CompiledTree, compile_tree
from sites_api.load.planner import Session, SitePlan, plan_site_limits
from sites_api.load.sent_limits import SentLimit, SentLimits
from sites_api.load.settings import LoadSettings
from sites_api.load.site_data import (
    Key,
    SiteTree,
    load_site_tree,
    running_sessions,
    sites_of_stations,
)

log = logging.getLogger(__name__)
PROFILE_ID_BASE = 1_000_000_000
REFUSALS = ("Rejected", "NotSupported", "CallError")
SITE_CHANGED = "load-site-changed"


@dataclass
class SiteState:
    site_id: int
    site: SiteTree
    compiled: CompiledTree
    plan: SitePlan | None = None
    planned_at: datetime | None = None
    readings: dict[int, Any] | None = None  # the fresh meter readings the plan used


@dataclass(frozen=True)
class MeterReading:
    value: float | tuple[float, float, float]  # A, raw (before the transformer ratio)
    at: float  # monotonic
    received: datetime
    source: str  # api, mqtt


_NO_SITES: frozenset[int] = frozenset()
PhaseAmps = tuple[float | None, float | None, float | None]


class LoadManager:
    def __init__(self, hub: Hub, settings: LoadSettings) -> None:
        self.hub = hub
        self.settings = settings
        self.sites: dict[int, SiteState] = {}
        self.sent = SentLimits()
        self.refusing: set[str] = set()
        # Current per phase (A) from the last MeterValues of each connector.
        self.measured: dict[Key, Measured] = {}
        # What a settled car draws plus the margin (measurements.next_demand).
        self.demands: dict[Key, float] = {}
        # The most an EV said it takes (2.0.1 NotifyEVChargingNeeds), A per phase.
        self.ev_needs: dict[Key, float] = {}
        # The last reading of each site meter, by fuse node id.
        self.meter_readings: dict[int, MeterReading] = {}
        self._phases: dict[Key, tuple[int, ...]] = {}
        self._last_round: dict[int, float] = {}
        # Called after every tree edit (e.g. the MQTT meters re-subscribe).
        self.tree_listeners: list[Callable[[], None]] = []
        # station id -> the sites it is in (None: read again); see sites_of.
        self._station_sites: dict[str, set[int]] | None = None
        # site id -> the connectors (and their rows) it had before a tree edit (see _release)
        self._former_rows: dict[int, dict[Key, int]] = {}
        self._loading: asyncio.Future[None] | None = None
        self._generation = 0
        self._dirty: set[int] = set()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._timers: dict[int, tuple[float, asyncio.TimerHandle]] = {}
        self._background: set[asyncio.Future[None]] = set()
        self.rounds = 0
        self.answers: dict[str, int] = {}  # profiles sent, by answer (Prometheus)
        self.fallbacks = Fallbacks(self)

    # -- events -----------------------------------------------------------------------------

    def subscribe(self) -> None:
        # Several hub nodes: a site is planned by the node holding its lease (hub.cluster),
        # which must hear the events of stations held by the other nodes too.
        cluster = self.hub.cluster
        cluster.subscribe(TransactionStarted, self._station_event)
        cluster.subscribe(TransactionEnded, self._station_event)
        self.hub.bus.listen(MeterValuesReceived, self._meter_values)  # the local view's
        cluster.subscribe(StationConnected, self._connected)
        cluster.subscribe(StationDisconnected, self._station_event)
        cluster.on_broadcast(SITE_CHANGED, self._site_changed_elsewhere)

    async def _station_event(self, event: Any) -> None:
        for site_id in await self.sites_of(event.station_id):
            self.touch(site_id)

    async def _connected(self, event: StationConnected) -> None:
        # A station that comes back may have rebooted: it holds no profile, and may now accept.
        self.refusing.discard(event.station_id)
        self.fallbacks.station_connected(event.station_id)
        self.sent.forget_station(event.station_id)
        # A site it was removed from while offline clears the fallback profiles it holds.
        for site_id in self.fallbacks.sites_held_by(event.station_id):
            self.touch(site_id)
        await self._station_event(event)

    def _meter_values(self, event: MeterValuesReceived) -> None:
        """A listener (called as the event is published, no task per message): the station's
        sites come from the cached map; only while it is (re)read does a task wait for it."""
        key = (event.station_id, event.connector_id)
        amps = connector_current(event.samples, self._phases.get(key, PHASES))
        if amps is None:
            return
        if self._station_sites is None:
            task = asyncio.ensure_future(self._measured_later(key, amps))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        self._measured(key, amps, self._station_sites.get(event.station_id, _NO_SITES))

    async def _measured_later(self, key: Key, amps: PhaseAmps) -> None:
        self._measured(key, amps, await self.sites_of(key[0]))

    def _measured(self, key: Key, amps: PhaseAmps, site_ids: frozenset[int] | set[int]
                  ) -> None:
        if not site_ids:
            return  # on no fuse tree: nothing to plan, nothing to show
        self.measured[key] = Measured(amps, time.monotonic(), utcnow())
        for site_id in site_ids:
            self.touch_soon(site_id)

    def record_meter_reading(self, site_id: int, node_id: int,
                             value: float | tuple[float, float, float], source: str
                             ) -> MeterReading:
        """A site meter's reading (raw, before its transformer ratio), from the API or MQTT."""
        reading = self.meter_readings[node_id] = MeterReading(
            value, time.monotonic(), utcnow(), source)
        self.touch_soon(site_id)
        return reading

    def site_changed(self, site_id: int) -> None:
        """A write to the site (its tree, chargers, ports): read the tree again, here and on
        the other nodes (the one holding the site's lease re-plans it)."""
        self._forget_site(site_id)
        if self.hub.cluster.clustered:
            task = asyncio.ensure_future(self.hub.cluster.broadcast(SITE_CHANGED,
                                                                    {"site": site_id}))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _site_changed_elsewhere(self, data: dict[str, Any]) -> None:
        self._forget_site(int(data["site"]))

    def _forget_site(self, site_id: int) -> None:
        old = self.sites.pop(site_id, None)
        if old is not None:  # the next round lets go of the connectors no longer in it
            self._former_rows[site_id] = {**self._former_rows.get(site_id, {}),
                                          **old.site.rows}
        self._station_sites = None
        self._generation += 1
        self.fallbacks.tree_changed()
        self.touch(site_id)
        for listener in self.tree_listeners:
            listener()

    def resend(self, key: Key) -> None:
        """Send the connector's limit in the next round even if it did not move."""
        self.sent.pop(key, None)

    async def sites_of(self, station_id: str) -> frozenset[int] | set[int]:
        # The whole station -> sites map is read at once: a reconnect storm of thousands of
        # stations (most in no site) made one query each, a fifth of the hub's CPU while they
        # booted. Concurrent events share the read; a site change starts a new one.
        while self._station_sites is None:
            if self._loading is None or self._loading.done():
                self._loading = asyncio.ensure_future(self._load_station_sites())
            await asyncio.shield(self._loading)
        return self._station_sites.get(station_id, _NO_SITES)

    async def _load_station_sites(self) -> None:
        generation = self._generation
        async with self.hub.sessions() as session:
            loaded = await sites_of_stations(session)
        if generation == self._generation:  # no site changed meanwhile
            self._station_sites = loaded

    # -- rounds -----------------------------------------------------------------------------

    def touch_soon(self, site_id: int) -> None:
        """Re-plan for a reading: now, or once ``replan_interval`` since the last round is over."""
        if not self.settings.enabled:
            return
        due = self._last_round.get(site_id, -math.inf) + self.settings.replan_interval
        now = time.monotonic()
        if due <= now:
            self.touch(site_id)
        else:
            self._wake_at(site_id, due - now)

    def touch(self, site_id: int) -> None:
        if not self.settings.enabled:
            return
        self._dirty.add(site_id)
        task = self._tasks.get(site_id)
        if task is None or task.done():
            self._tasks[site_id] = asyncio.ensure_future(self._run(site_id))

    async def _run(self, site_id: int) -> None:
        while site_id in self._dirty:
            self._dirty.discard(site_id)
            try:
                # One node plans a site at a time; the lease frees when its node dies and
                # the next event of the site on another node takes it.
                if not await self.hub.cluster.lead(f"load-site:{site_id}"):
                    continue
                await self.replan(site_id)
            except Exception:
                log.exception("load planning of site %s failed", site_id)

    async def stop(self) -> None:
        for _, timer in self._timers.values():
            timer.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def site_state(self, site_id: int) -> SiteState:
        state = self.sites.get(site_id)
        if state is None:
            async with self.hub.sessions() as session:
                site = await load_site_tree(session, site_id)
            state = self.sites[site_id] = SiteState(site_id, site, compile_tree(site.tree))
            for key, connector in state.compiled.connectors.items():
                self._phases[key] = connector.phases
        return state

    async def replan(self, site_id: int) -> SitePlan:
        state = await self.site_state(site_id)
        former = self._former_rows.pop(site_id, None)
        if former:
            await self._release(state, former)
        now = self._last_round[site_id] = time.monotonic()
        async with self.hub.sessions() as session:
            running = await running_sessions(session, state.site.stations)
        readings, stale_at = self._site_readings(state, now)
        fixed: dict[Key, float | None] = {}
        hold_until = math.inf
        for key in state.site.rows:
            if not self.hub.commands.is_connected(key[0]) or key[0] in self.refusing:
                fixed[key] = None  # its maximum
                continue
            sent = self.sent.get(key)
            if (sent is not None and key in running
                    and sent.transaction_id == running[key].transaction_id
                    and now - sent.sent_at < self.settings.min_interval):
                fixed[key] = sent.amps
                hold_until = min(hold_until, sent.sent_at + self.settings.min_interval)
        sessions = {key: Session(started=r.started.timestamp(),
                                 demand=self._demand(state, key, r.transaction_id))
                    for key, r in running.items() if key in state.site.rows}
        plan = plan_site_limits(state.compiled, sessions, readings, fixed)
        targets = {key: item.amps for key, item in plan.connectors.items()}
        if hold_until < math.inf:
            # Where what is held frees current, nobody takes more than the share they will
            # have once it moves: otherwise limits leapfrog as the intervals end one by one.
            unsteerable = {k: v for k, v in fixed.items() if v is None}
            free = plan_site_limits(state.compiled, sessions, readings, unsteerable)
            for key, item in free.connectors.items():
                if key not in fixed:
                    targets[key] = min(targets[key], item.amps)
            plan = SitePlan({key: replace(item, amps=targets[key])
                             for key, item in plan.connectors.items()}, plan.queue)
        state.plan, state.planned_at = plan, utcnow()
        self.rounds += 1
        state.readings = readings
        for key in [k for k in self.sent if k in state.site.rows and k not in running]:
            del self.sent[key]  # its transaction ended, and its TxProfile with it
        for needs in (self.demands, self.ev_needs):
            for key in [k for k in needs if k in state.site.rows and k not in running]:
                del needs[key]
        wake = min(hold_until, stale_at)
        if wake < math.inf:
            self._wake_at(site_id, wake - now)
        await self._send(state, targets, running, fixed)
        await self.fallbacks.apply(state)
        return plan

    async def _release(self, state: SiteState, former: dict[Key, int]) -> None:
        """Connectors an edit took out of the site (and out of every site held here): forget
        what was sent, measured and wanted for them, and clear the hub's TxProfile on the
        station (it would keep its car at the site's share until the transaction ends)."""
        held = {key for other in self.sites.values() for key in other.site.rows}
        removed = [(key, row) for key, row in former.items() if key not in held]
        for key, _ in removed:
            self.measured.pop(key, None)
            self.demands.pop(key, None)
            self.ev_needs.pop(key, None)
        sent = [(key, row) for key, row in removed if self.sent.pop(key, None) is not None]
        await asyncio.gather(*(self._clear_limit(key, row) for key, row in sent
                               if self.hub.commands.is_connected(key[0])))

    async def _clear_limit(self, key: Key, row: int) -> None:
        try:
            await charging_profiles.clear_profiles(
                self.hub, key[0], profile_id=PROFILE_ID_BASE + row % PROFILE_ID_BASE,
                timeout=self.settings.call_timeout)
        except CommandFailed as error:  # it ends with the transaction anyway
            log.info("load limit of %s/%s not cleared: %s", *key, error)

    def _site_readings(self, state: SiteState, now: float
                       ) -> tuple[dict[int, Any], float]:
        """Fresh meter readings of the site (stale ones left out: their fallback applies), and
        when the first of them goes stale."""
        readings: dict[int, Any] = {}
        stale_at = math.inf
        for node_id, _, _ in state.compiled.meters:
            reading = self.meter_readings.get(node_id)  # type: ignore[call-overload]
            if reading is None:
                continue
            expires = reading.at + self.settings.meter_max_age
            if expires > now:
                readings[node_id] = reading.value
                stale_at = min(stale_at, expires)
        return readings, stale_at

    def _demand(self, state: SiteState, key: Key, transaction_id: int) -> float | None:
        settled = self._settled_demand(state, key, transaction_id)
        wanted = self.ev_needs.get(key)
        if settled is None or wanted is None:
            return wanted if settled is None else settled
        return min(settled, wanted)

    def _settled_demand(self, state: SiteState, key: Key, transaction_id: int
                        ) -> float | None:
        sent = self.sent.get(key)
        if sent is None or sent.transaction_id != transaction_id or sent.status != "Accepted":
            return None
        connector = state.compiled.connectors[key]
        demand = next_demand(self.demands.get(key), self.measured.get(key), sent.amps,
                             sent.sent_at, connector.phases, settle=self.settings.settle,
                             margin=self.settings.demand_margin)
        if demand is None:
            self.demands.pop(key, None)
            return None
        self.demands[key] = demand
        return level_at_least(connector.levels, demand)

    def _wake_at(self, site_id: int, delay: float) -> None:
        """Re-plan the site after ``delay`` seconds (an earlier wake-up already set stays)."""
        when = time.monotonic() + max(delay, 0.0)
        pending = self._timers.get(site_id)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        self._timers[site_id] = (when, asyncio.get_running_loop().call_later(
            max(delay, 0.0) + 0.01, self._timer_fired, site_id))

    def _timer_fired(self, site_id: int) -> None:
        self._timers.pop(site_id, None)
        self.touch(site_id)

    def idle(self, site_id: int) -> bool:
        """Nothing to do for the site now or later (no round pending, running or timed)."""
        task = self._tasks.get(site_id)
        return (site_id not in self._dirty and site_id not in self._timers
                and (task is None or task.done()))

    async def _send(self, state: SiteState, targets: dict[Key, float], running: dict[Key, Any],
                    fixed: dict[Key, float | None]) -> None:
        decreases, increases = [], []
        for key, session in running.items():
            if key in fixed or key not in targets:
                continue
            amps = targets[key]
            sent = self.sent.get(key)
            if sent is not None and sent.transaction_id == session.transaction_id and \
                    sent.status in ("Accepted", "pending") and \
                    abs(amps - sent.amps) <= self.settings.hysteresis and \
                    (amps == 0) == (sent.amps == 0):
                continue
            item = (key, amps, session.transaction_id)
            (decreases if sent is not None and amps < sent.amps else increases).append(item)
        if decreases:
            answers = await asyncio.gather(*(self._send_one(state, *d) for d in decreases))
            if not all(answers):
                self.touch(state.site_id)
                return
        await asyncio.gather(*(self._send_one(state, *i) for i in increases))

    async def _send_one(self, state: SiteState, key: Key, amps: float, transaction_id: int
                        ) -> bool:
        station_id, connector_id = key
        phases = state.compiled.connectors[key].phases
        profile = {
            "id": PROFILE_ID_BASE + state.site.rows[key] % PROFILE_ID_BASE,
            "stack_level": self.settings.stack_level, "purpose": "TxProfile",
            "kind": "Relative", "transaction_id": transaction_id,
            "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [
                {"start_period": 0, "limit": amps, "number_phases": len(phases)}]}}
        # Kept by reference: the station may reconnect (its entry forgotten) while the call is
        # out; the answer then lands on the forgotten entry.
        sent = self.sent[key] = SentLimit(amps, transaction_id, time.monotonic(), utcnow(),
                                          "pending")
        try:
            status = await charging_profiles.set_profile(
                self.hub, station_id, connector_id, profile, self.settings.call_timeout)
        except StationOffline:
            status = "Offline"
        except CallTimeout:
            status = "Timeout"
        except (CallError, UnknownTransaction):
            status = "CallError"
        except CommandFailed:
            status = "Failed"
        sent.status = status
        self.answers[status] = self.answers.get(status, 0) + 1
        if status in REFUSALS:
            self.refusing.add(station_id)
        return status == "Accepted"


LOAD = web.AppKey("load_manager", LoadManager)
