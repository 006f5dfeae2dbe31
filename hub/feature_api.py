"""The core as features see it: the one declared surface ``pnc``, ``oicp`` and ``sites_api`` use.

A feature reaches the hub's runtime through this module (the app keys, the ``Hub`` with its
committer, bus, commands, station registry and hook registries, the EVSE provider registry,
and the few OCPP session pieces a feature handler needs), plus the core modules listed in
``CORE_MODULES`` (models, services, errors, OpenAPI helpers: the hub's stable vocabulary).
Never the app factory, the CLI or the OCPP endpoint's internals: ``tests/test_layering.py``
checks every feature import against this declaration, so a new dependency of a feature on the
core is added here, on purpose, or not at all.

A feature records a fact by declaring its event in a unit of work (``hub.db.group_commit.emit``
inside ``hub.committer.run`` or ``hub.committer.transaction``); the committer runs the bus's
``on_commit`` hooks in that transaction and publishes after the commit. Features register
hooks (``bus.on_commit``, ``bus.subscribe``); they never publish by hand.
"""

from __future__ import annotations

from aiohttp import web

from hub.config import Config
from hub.context import HUB, ActionHandler, DataTransferHandler, Hub
from hub.evse_provider import (
    EVSE_PROVIDERS,
    EvseLocation,
    EvseProvider,
    EvseProviders,
    EvseSite,
    evse_providers,
)
from hub.mqtt.link import MqttLink
from hub.mqtt.routes import MQTT
from hub.ocpp_server.codec import payload_of, to_camel, to_snake
from hub.ocpp_server.endpoint import valid_station_id
from hub.ocpp_server.framing import FrameError
from hub.ocpp_server.framing import validate as validate_payload
from hub.ocpp_server.session import InvalidRequest, StationSession

# ``MQTT`` (re-exported from hub.mqtt): the hub's one broker connection, set before any
# feature's ``setup(app)``; a feature subscribes its topics on it (``MqttLink.subscribe``).

# The hub's configuration, set by the app factory before any feature's ``setup(app)`` runs
# (``app[HUB]`` exists only once the runtime is up, inside the features' ``cleanup_ctx``).
CONFIG = web.AppKey("config", Config)

# Core modules a feature may import besides this one ("pkg.*": every module of pkg). Anything else
# of ``hub`` (hub.app, hub.cli, hub.serve, hub.ocpp_server.*, hub.context, ...) is internal.
CORE_MODULES: tuple[str, ...] = (
    "hub.auth",
    "hub.certificate_store",
    "hub.commands",
    "hub.config",
    "hub.console.pages",  # a feature's pages in the operator console
    "hub.db",  # the package itself (is_sqlite), not hub.db.migrate or hub.db.engine
    "hub.db.base",
    "hub.db.group_commit",
    "hub.db.models",
    "hub.db.models_blocks",  # transaction costs (Sites API sessions)
    "hub.db.upsert",
    "hub.errors",
    "hub.events",
    "hub.json_body",
    "hub.metrics",
    "hub.openapi",
    "hub.services.*",  # every service module: where the rules live
)

__all__ = [
    "CONFIG", "CORE_MODULES", "EVSE_PROVIDERS", "HUB", "MQTT", "ActionHandler", "Config",
    "DataTransferHandler", "EvseLocation", "EvseProvider", "EvseProviders", "EvseSite",
    "FrameError", "Hub", "InvalidRequest", "MqttLink", "StationSession", "evse_providers",
    "payload_of", "to_camel", "to_snake", "valid_station_id", "validate_payload",
]
