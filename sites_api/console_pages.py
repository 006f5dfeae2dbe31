"""Sites in the operator console (``/console/op_sites``): each site with its fuse tree drawn as
a tree, the limits of each fuse, and the connectors under it with their live status; where the
load manager holds a plan of the site, each fuse's planned and measured current per phase and
each connector's limit sent (the figures of ``GET /sites/{id}/load``, from the same function).
A user with an organisation sees only that organisation's sites."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from aiohttp import web

from hub.console.pages import ConsolePage, add_console_page, current_user, page, render
from hub.db.models import Connector
from hub.feature_api import HUB
from sites_api.load.live import current_live
from sites_api.load.runner import LOAD
from sites_api.models import FuseNode, FuseNodeConnector, Organisation, Site

SITES = 200
GERMAN = {
    "Sites": "Standorte",
    "Fuse tree": "Sicherungsbaum",
    "limit": "Grenze",
    "inbound": "Bezug",
    "outbound": "Einspeisung",
    "fallback": "Rückfallwert",
    "No sites.": "Keine Standorte.",
    "No fuse tree.": "Kein Sicherungsbaum.",
    "planned": "geplant",
    "measured": "gemessen",
    "limit sent": "gesendete Grenze",
    "acknowledged": "bestätigt",
    "not acknowledged": "nicht bestätigt",
}


@dataclass
class Branch:
    node: FuseNode
    children: list[Branch] = field(default_factory=list)
    # (station id, connector id, name, live status)
    connectors: list[tuple[str, int, str | None, str | None]] = field(default_factory=list)


def fuse_trees(nodes: list[FuseNode], attached: list[tuple[FuseNodeConnector, str | None]]
               ) -> dict[int, list[Branch]]:
    """site id -> its root branches, children in their ``order``."""
    branches = {node.id: Branch(node) for node in nodes}
    roots: dict[int, list[Branch]] = {}
    for node in sorted(nodes, key=lambda n: (n.order, n.id)):
        parent = branches.get(node.parent_id) if node.parent_id is not None else None
        (parent.children if parent else roots.setdefault(node.site_id, [])).append(
            branches[node.id])
    for link, status in attached:
        if link.node_id in branches:
            branches[link.node_id].connectors.append(
                (link.station_id, link.connector_id, link.name, status))
    return roots


@page("Sites with their fuse trees, limits and the connectors under each fuse")
async def sites_page(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    org = current_user(request).organisation_key
    query = sa.select(Site).order_by(Site.name).limit(SITES)
    if org is not None:
        query = query.join(Organisation, Organisation.id == Site.organisation_id).where(
            Organisation.key == org)
    async with hub.sessions() as session:
        sites = list((await session.execute(query)).scalars())
        ids = [site.id for site in sites]
        nodes = list((await session.execute(
            sa.select(FuseNode).where(FuseNode.site_id.in_(ids)))).scalars())
        attached = list((await session.execute(
            sa.select(FuseNodeConnector, Connector.status)
            .outerjoin(Connector, sa.and_(
                Connector.station_id == FuseNodeConnector.station_id,
                Connector.connector_id == FuseNodeConnector.connector_id))
            .where(FuseNodeConnector.site_id.in_(ids)))).all())
    manager = request.config_dict.get(LOAD)
    live = {site.id: current_live(manager, site.id) for site in sites}
    return render(request, "sites.html", sites=sites, trees=fuse_trees(nodes, attached),
                  live=live)


def add_pages(app: web.Application) -> None:
    add_console_page(app, ConsolePage(
        "op_sites", "Sites", sites_page, templates=Path(__file__).parent / "console_templates",
        german=GERMAN))
