"""The hub's runtime: every shared service, created once per process by the app factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub.commands import Commands
from hub.config import Config
from hub.db.base import utcnow
from hub.db.group_commit import GroupCommitter
from hub.events import EventBus
from hub.id_tags import IdTagCache
from hub.metrics import ActionMetrics, MetricProvider, SecurityEventCounts
from hub.ocpp_server.message_log import MessageLog
from hub.ocpp_server.registry import StationRegistry

if TYPE_CHECKING:
    from hub.cluster import SingleNode
    from hub.ocpp_server.session import StationSession
    from hub.services.tariffs import TariffCache

# A feature's handler for a charger-initiated action: (session, camelCase payload) -> payload.
ActionHandler = Callable[["StationSession", dict[str, Any]], Awaitable[dict[str, Any]]]
# A handler for DataTransfer: (session, data) -> (status, data) where data is the raw string.
DataTransferHandler = Callable[["StationSession", str | None], Awaitable[tuple[str, str | None]]]


@dataclass
class Hub:
    config: Config
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    committer: GroupCommitter
    bus: EventBus
    stations: StationRegistry
    commands: Commands
    message_log: MessageLog
    metrics: ActionMetrics
    started_at: datetime = field(default_factory=utcnow)
    id_tag_cache: IdTagCache = field(default_factory=IdTagCache)
    # Security events the hub itself detected (hub.services.security_events), for /metrics.
    security_events: SecurityEventCounts = field(default_factory=SecurityEventCounts)
    # Feature hooks, registered by the app factory's features.
    action_handlers: dict[tuple[str, str], ActionHandler] = field(default_factory=dict)
    data_transfer_handlers: dict[tuple[str, str | None], DataTransferHandler] = field(
        default_factory=dict
    )
    # Asked in order about id tags unknown locally: (hub, station_id, id_tag) -> Authorization
    # or None. A feature appends here (e.g. Hubject AuthorizeStart).
    remote_authorizers: list[Callable[..., Awaitable[Any]]] = field(default_factory=list)
    # Asked at each /metrics scrape for extra metric families (e.g. the OICP outbox depth),
    # so that the monitoring code needs no import of the feature.
    metric_providers: list[MetricProvider] = field(default_factory=list)
    # The syntax of a SECC ID / EVSE ID, for the operator's input (set by the Plug&Charge
    # feature, which owns that knowledge); None checks only the length.
    secc_id_syntax: Callable[[str], bool] | None = None
    # This node's place in a cluster (hub.cluster): leases for once-per-cluster work, events
    # from the other nodes. The app factory sets it; a single node's by default.
    cluster: SingleNode = None  # type: ignore[assignment]
    # The tariffs in memory (hub.services.tariffs), set by the app factory; None: read them.
    tariff_cache: TariffCache | None = None

    def __post_init__(self) -> None:
        if self.cluster is None:
            from hub.cluster import SingleNode

            self.cluster = SingleNode(self.bus, self.config.cluster.node_id)

    def handle_action(self, ocpp_version: str, action: str, handler: ActionHandler) -> None:
        """Let a feature answer a charger-initiated ``action`` instead of the core."""
        self.action_handlers[(ocpp_version, action)] = handler

    def handle_data_transfer(
        self, vendor_id: str, message_id: str | None, handler: DataTransferHandler
    ) -> None:
        """Route DataTransfer by vendorId and messageId (None = any messageId of the vendor)."""
        self.data_transfer_handlers[(vendor_id, message_id)] = handler


HUB = web.AppKey("hub", Hub)
