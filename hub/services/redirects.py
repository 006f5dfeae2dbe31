"""Broker redirects: which stations are relayed (or mirrored) to another backend, and the rules
for a redirect's target.

A redirect belongs to a known station. Its target is a ``ws://`` or ``wss://`` URL; a
``{station_id}`` in it is replaced by the station id, otherwise the station id is appended as
the last path segment (the OCPP-J convention). A target that points at the hub itself would
relay the station to itself forever, so it is refused. Credentials never go in the URL: the
upstream password is a field of its own that the API never returns.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa

from hub.config import Config
from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Station
from hub.db.models_redirects import RedirectEvent, StationRedirect

MODES = ("relay", "mirror")
STATION_PLACEHOLDER = "{station_id}"
MAX_URL = 500
# Fields a create/update may carry besides the target; MISSING in ``save`` means "keep".
OPTIONAL_FIELDS = ("upstream_password", "client_cert", "client_key", "ca_bundle")
MISSING: Any = object()
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", "ip6-localhost"}


@dataclass(frozen=True)
class Redirect:
    """What the OCPP endpoint needs of a redirect at a station's handshake (cached in memory)."""

    station_id: str
    target_url: str
    mode: str
    enabled: bool
    upstream_password: str | None = field(default=None, repr=False)
    client_cert: str | None = None
    client_key: str | None = None
    ca_bundle: str | None = None

    def upstream_url(self) -> str:
        station = quote(self.station_id, safe="")
        if STATION_PLACEHOLDER in self.target_url:
            return self.target_url.replace(STATION_PLACEHOLDER, station)
        return f"{self.target_url.rstrip('/')}/{station}"


def from_row(row: StationRedirect) -> Redirect:
    return Redirect(row.station_id, row.target_url, row.mode, row.enabled,
                    row.upstream_password, row.client_cert, row.client_key, row.ca_bundle)


@dataclass(frozen=True)
class OwnAddresses:
    """Where the hub itself listens: its hosts and ports, and its public URL's (host, port)."""

    hosts: frozenset[str]
    ports: frozenset[int]
    public: frozenset[tuple[str, int]]

    def includes(self, host: str, port: int) -> bool:
        return (host in self.hosts and port in self.ports) or (host, port) in self.public


def own_addresses(config: Config, local: tuple[str, int] | None = None) -> OwnAddresses:
    """The hub's listen host/port from its config, the address an API request came in on
    (``local``: a test hub or a ``--port`` differ from the file), and ``server.public_url``."""
    hosts = set(_LOOPBACK) | {config.server.host.lower(), socket.gethostname().lower()}
    ports = {config.server.port}
    if local is not None:
        hosts.add(local[0].lower())
        ports.add(local[1])
    public: set[tuple[str, int]] = set()
    for url in (config.server.public_url,):
        if url:
            parts = urlsplit(url)
            if parts.hostname:
                default = 443 if parts.scheme in ("https", "wss") else 80
                public.add((parts.hostname.lower(), parts.port or default))
    return OwnAddresses(frozenset(hosts), frozenset(ports), frozenset(public))


def target_url_problem(url: str, own: OwnAddresses) -> str | None:
    """Why ``url`` cannot be a redirect target, or None."""
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("ws", "wss"):
        return "must be a ws:// or wss:// URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (use upstream_password)"
    if parts.fragment or any(c.isspace() for c in url):
        return "must not contain a fragment or whitespace"
    rest = url.replace(STATION_PLACEHOLDER, "")
    if "{" in rest or "}" in rest:
        return f"may only contain the placeholder {STATION_PLACEHOLDER}"
    port = port or (443 if parts.scheme == "wss" else 80)
    if own.includes(parts.hostname.lower(), port):
        return "points at this hub itself"
    return None


# -- storage -----------------------------------------------------------------------------------


async def load_all(hub: Hub) -> dict[str, Redirect]:
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(StationRedirect))).scalars().all()
    return {row.station_id: from_row(row) for row in rows}


async def list_rows(hub: Hub) -> list[StationRedirect]:
    async with hub.sessions() as session:
        query = sa.select(StationRedirect).order_by(StationRedirect.station_id)
        return list((await session.execute(query)).scalars().all())


async def get(hub: Hub, station_id: str) -> StationRedirect | None:
    async with hub.sessions() as session:
        return await session.get(StationRedirect, station_id)


async def station_exists(hub: Hub, station_id: str) -> bool:
    async with hub.sessions() as session:
        return await session.get(Station, station_id) is not None


async def save(hub: Hub, station_id: str, changes: dict[str, Any], actor: str | None,
               *, only_if_missing: bool = False) -> tuple[StationRedirect, bool]:
    """Create or update the station's redirect; (row, created). ``changes`` holds the fields
    given (``target_url``, ``mode``, ``enabled`` and OPTIONAL_FIELDS; None clears an optional
    one). ``only_if_missing``: an existing redirect is returned unchanged (the seed's
    createRedirect)."""
    now = utcnow()
    async with hub.sessions() as session, session.begin():
        row = await session.get(StationRedirect, station_id)
        created = row is None
        if row is not None and only_if_missing:
            return row, False
        if row is None:
            row = StationRedirect(station_id=station_id, mode="relay", enabled=True,
                                  created_at=now)
            session.add(row)
        changed = []
        for name in ("target_url", "mode", "enabled", *OPTIONAL_FIELDS):
            value = changes.get(name, MISSING)
            if value is not MISSING and getattr(row, name, None) != value:
                setattr(row, name, value)
                changed.append(name if name != "upstream_password"
                               else "upstream_password " + ("set" if value else "cleared"))
        row.updated_at = now
        row.updated_by = actor
        if changed or created:
            session.add(RedirectEvent(
                station_id=station_id, at=now, actor=actor,
                action="created" if created else "updated", target_url=row.target_url,
                mode=row.mode, enabled=row.enabled,
                detail=", ".join(changed) if not created else None))
    return row, created


async def delete(hub: Hub, station_id: str, actor: str | None) -> bool:
    async with hub.sessions() as session, session.begin():
        row = await session.get(StationRedirect, station_id)
        if row is None:
            return False
        session.add(RedirectEvent(station_id=station_id, at=utcnow(), actor=actor,
                                  action="deleted", target_url=row.target_url, mode=row.mode,
                                  enabled=row.enabled))
        await session.delete(row)
    return True


async def history(hub: Hub, station_id: str, limit: int = 100) -> list[RedirectEvent]:
    async with hub.sessions() as session:
        query = (sa.select(RedirectEvent).where(RedirectEvent.station_id == station_id)
                 .order_by(RedirectEvent.id.desc()).limit(limit))
        return list((await session.execute(query)).scalars().all())


async def record_error(hub: Hub, station_id: str, error: str) -> None:
    """Keep the upstream's last failure on the redirect (shown by GET /api/op_redirects)."""
    async with hub.sessions() as session, session.begin():
        await session.execute(
            sa.update(StationRedirect).where(StationRedirect.station_id == station_id)
            .values(last_error=error[:2000], last_error_at=utcnow()))
