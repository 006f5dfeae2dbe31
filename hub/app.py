"""The app factory: builds the hub's runtime and assembles the features.

This is the only module of ``hub`` that imports feature packages. Each feature is a
``Feature(setup, migrations)``: ``setup(app)`` adds its routes, OCPP handlers and event
subscriptions (usually via its own ``cleanup_ctx``, which runs after the hub runtime exists).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

import oicp
import pnc
import sites_api
from hub.activity import register_activity_log
from hub.api_tokens import dev_admin_token, dev_token_file
from hub.auth import TOKEN_VERIFIER, TokenVerifier, auth_middleware
from hub.cluster import start_cluster
from hub.commands import Commands
from hub.config import Config
from hub.console.app import add_console, mount_console
from hub.context import HUB, Hub
from hub.credential_throttle import CREDENTIAL_THROTTLES, CredentialThrottles
from hub.db import create_engine, is_sqlite, session_factory
from hub.db.group_commit import GroupCommitter
from hub.db.migrate import pending_revisions, upgrade_database
from hub.docs import add_docs_routes
from hub.errors import error_middleware
from hub.events import EventBus
from hub.evse_provider import EVSE_PROVIDERS, EvseProviders
from hub.feature_api import CONFIG
from hub.files.runtime import add_file_routes
from hub.health import add_health_routes
from hub.id_tags import IdTagCache
from hub.late_handshake import HubApplication
from hub.logs import ActivityLog
from hub.management import add_management_routes
from hub.metrics import ActionMetrics
from hub.mqtt import add_mqtt
from hub.ocpp_server.admission import ADMISSION, AdmissionControl
from hub.ocpp_server.endpoint import make_handler
from hub.ocpp_server.message_log import MessageLog
from hub.ocpp_server.registry import StationRegistry
from hub.ocpp_server.upstream import RELAY, RelayRuntime, relay_runtime
from hub.security_headers import add_security_headers
from hub.services import stations
from hub.services.charging_profile_record import register_charging_profile_record
from hub.services.command_effects import register_command_effects
from hub.services.command_effects201 import register_command_effects201
from hub.services.station_holdings import register_holding_effects
from hub.services.tariffs import register_cost_updates
from hub.services.transaction_reconcile import register_transaction_reconciler

log = logging.getLogger(__name__)

TOKENS = TOKEN_VERIFIER


@dataclass(frozen=True)
class Feature:
    name: str
    setup: Callable[[web.Application], None]
    migrations: Path | None = None
    # Registers the feature's OCPP handlers on a Hub-like recorder, without a runtime: what
    # ``pnc-hub ocpp actions`` lists (hub.ocpp_actions). The runtime registers the same ones.
    ocpp_handlers: Callable[[Any], None] | None = None


@dataclass
class StartupOptions:
    # Print the dev admin token once the database is ready (serve --dev): the same token on
    # every start while it is valid (kept beside the SQLite file), not a new one each time.
    print_admin_token: bool = False
    # Upgrade the schema at start-up even where the hub would not by default (non-SQLite).
    upgrade_database: bool = False
    extra: dict[str, object] = field(default_factory=dict)


STARTUP = web.AppKey("startup", StartupOptions)


def features() -> list[Feature]:
    """The features this build ships. Packages whose issue has not landed are not listed."""
    return [
        Feature("pnc", pnc.setup, migrations=pnc.MIGRATIONS, ocpp_handlers=pnc.ocpp_handlers),
        Feature("oicp", oicp.setup, migrations=oicp.MIGRATIONS),
        Feature("sites", sites_api.setup, migrations=sites_api.MIGRATIONS,
                ocpp_handlers=sites_api.ocpp_handlers),
    ]


def create_app(config: Config, *, feature_list: Sequence[Feature] | None = None,
               startup: StartupOptions | None = None) -> web.Application:
    throttles = CredentialThrottles()
    app = HubApplication(
        middlewares=[error_middleware, auth_middleware(lambda request: request.app[TOKENS],
                                                       throttles.token_addresses)],
        client_max_size=8 * 1024 * 1024,
        # The time a connection has to send its first request (then it is answered 408: see
        # hub.late_handshake), and the keep-alive time between requests.
        handler_args={"upgrade_timeout": config.ocpp.upgrade_timeout,
                      "keepalive_timeout": config.ocpp.handshake_timeout},
    )
    app[CONFIG] = config
    app[STARTUP] = startup or StartupOptions()
    app[CREDENTIAL_THROTTLES] = throttles
    app[EVSE_PROVIDERS] = EvseProviders()  # filled by features at setup (hub.evse_provider)
    add_security_headers(app)
    selected = list(features() if feature_list is None else feature_list)
    app.cleanup_ctx.append(_hub_runtime(selected))
    app.on_shutdown.append(_close_station_connections)

    add_health_routes(app)
    add_docs_routes(app, lambda request: request.app[TOKENS])
    add_console(app)
    add_management_routes(app)
    add_mqtt(app)  # before the features: they subscribe their topics on app[MQTT]
    app[ADMISSION] = AdmissionControl()
    app[RELAY] = RelayRuntime()
    app.cleanup_ctx.append(relay_runtime)
    add_file_routes(app)
    handler = make_handler(HUB, app[ADMISSION], throttles)
    app.router.add_get("/ocpp/{station_id}", handler)
    for feature in selected:
        feature.setup(app)
    mount_console(app)  # with the pages features added
    if config.server.bare_station_path:
        # Registered last so that every named route wins over the catch-all station path.
        app.router.add_get("/{station_id}", handler)
    return app


def _hub_runtime(selected: Sequence[Feature]) -> Callable[[web.Application],
                                                          contextlib.AbstractAsyncContextManager]:
    @contextlib.asynccontextmanager
    async def runtime(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        engine = create_engine(
            config.database.url, echo=config.database.echo,
            pool_size=config.database.pool_size,
            sqlite_synchronous=config.database.sqlite_synchronous)
        migrations = [f.migrations for f in selected if f.migrations is not None]
        try:
            await _current_schema(app, engine, migrations)
        except BaseException:
            # Unreachable database, schema behind: close the pool (and its driver threads)
            # before the error ends the process.
            await engine.dispose()
            raise

        bus = EventBus()
        committer = GroupCommitter(
            engine, max_batch=config.database.group_commit_max_batch,
            writers=1 if is_sqlite(config.database.url) else 2, bus=bus)
        committer.start()
        registry = StationRegistry()
        activity = ActivityLog()
        mlog = config.message_log
        hub = Hub(
            config=config, engine=engine, sessions=session_factory(engine), committer=committer,
            bus=bus, stations=registry,
            commands=Commands(registry, default_timeout=config.ocpp.call_timeout,
                              activity=activity),
            message_log=MessageLog(committer, max_queue=mlog.max_queue,
                                   batch_size=mlog.batch_size, flush_interval=mlog.flush_interval,
                                   skip_actions=mlog.skip_actions, enabled=mlog.enabled,
                                   shed_at=mlog.shed_at, sample_every=mlog.sample_every),
            metrics=ActionMetrics(),
            id_tag_cache=IdTagCache(ttl=config.ocpp.id_tag_cache_seconds),
        )
        try:
            hub.cluster = await start_cluster(hub)
        except BaseException:
            await committer.stop()
            await engine.dispose()
            raise
        register_command_effects(hub)
        register_activity_log(hub, activity)
        register_command_effects201(hub)
        register_holding_effects(hub)
        register_transaction_reconciler(hub)
        register_cost_updates(hub)
        register_charging_profile_record(hub)
        app[HUB] = hub
        app[TOKENS] = TokenVerifier(hub.sessions)
        hub.message_log.start()
        if not hub.cluster.clustered:  # in a cluster, other nodes hold stations now
            await stations.reset_connection_flags(hub)
        flusher = asyncio.create_task(_flush_last_seen_forever(hub))

        if app[STARTUP].print_admin_token:
            token = await dev_admin_token(hub.sessions, dev_token_file(config.database.url))
            print(f"Admin token (dev): {token}", file=sys.stdout, flush=True)
        try:
            yield
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await stations.flush_last_seen(hub)
            await hub.bus.drain()
            await hub.cluster.stop()
            await hub.message_log.stop()
            await committer.stop()
            await engine.dispose()

    return runtime


async def _current_schema(app: web.Application, engine: AsyncEngine,
                          migrations: list[Path]) -> None:
    if is_sqlite(app[CONFIG].database.url) or app[STARTUP].upgrade_database:
        await upgrade_database(engine, migrations)
        return
    missing = await pending_revisions(engine, migrations)
    if missing:
        raise RuntimeError(
            f"database schema is not current (missing {', '.join(sorted(missing))}); "
            "run 'pnc-hub db upgrade' first")


def safe_database_url(url: str) -> str:
    """The database URL with its password hidden (for logs and error lines)."""
    from sqlalchemy import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL: say nothing of it that might be a secret
        return "(unparsable database URL)"


async def _flush_last_seen_forever(hub: Hub) -> None:
    while True:
        await asyncio.sleep(hub.config.ocpp.last_seen_flush_seconds)
        try:
            await stations.flush_last_seen(hub)
        except Exception:
            log.exception("could not write last-seen times")


async def _close_station_connections(app: web.Application) -> None:
    hub = app.get(HUB)
    if hub is None:
        return
    await asyncio.gather(*(s.ws.close(code=1001, message=b"hub shutting down")
                           for s in hub.stations), return_exceptions=True)
