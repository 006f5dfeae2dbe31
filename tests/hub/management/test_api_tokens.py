"""API tokens over the API: create (secret shown once), list without secrets, revoke at once,
expiry, scopes from a closed set, last-used time written at most once a minute, and what the
narrower scopes (metrics:read, read, commands) reach."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from hub.auth import create_token
from hub.db.base import utcnow
from hub.db.models import ApiToken
from tests.harness import RunningHub
from tests.hub.management.conftest import STATION, Api


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_create_list_and_revoke(api: Api) -> None:
    created = await api.ok("POST", "/api/api-tokens", status=201, json={
        "name": "grafana", "scopes": ["metrics:read"], "expires_at": "30d"})
    secret = created["token"]
    assert secret.startswith("pnch_") and created["scopes"] == ["metrics:read"]
    assert created["state"] == "active" and created["expires_at"] is not None

    listed = await api.ok("GET", "/api/api-tokens")
    assert "grafana" in [t["name"] for t in listed["tokens"]]
    # Neither the secret nor its hash is ever listed.
    assert secret not in str(listed) and "token_hash" not in str(listed)
    assert all("token" not in t for t in listed["tokens"])

    assert (await api.get("/metrics", auth=False, headers=_bearer(secret))).status == 200
    await api.ok("DELETE", f"/api/api-tokens/{created['id']}", "/api/api-tokens/{id}")
    # Revoked on this node at once (not after the verifier's cache expires).
    await api.error("GET", "/metrics", 401, auth=False, headers=_bearer(secret))
    shown = await api.ok("GET", f"/api/api-tokens/{created['id']}", "/api/api-tokens/{id}")
    assert shown["state"] == "revoked"
    assert created["id"] not in [t["id"] for t in (await api.ok("GET", "/api/api-tokens"))
                                 ["tokens"]]
    everything = await api.ok("GET", "/api/api-tokens", params={"include_revoked": "true"})
    assert created["id"] in [t["id"] for t in everything["tokens"]]
    await api.error("DELETE", "/api/api-tokens/999999", 404)


async def test_unknown_scopes_and_bad_expiry_are_refused(api: Api) -> None:
    body = await api.error("POST", "/api/api-tokens", 400, json={"name": "x",
                                                                 "scopes": ["metrics"]})
    assert body["field"] == "scopes" and "metrics:read" in body["valid_scopes"]
    assert "'metrics'" in body["detail"]
    body = await api.error("POST", "/api/api-tokens", 400, json={
        "name": "x", "expires_at": "2001-01-01T00:00:00Z"})
    assert body["field"] == "expires_at" and "future" in body["detail"]
    body = await api.error("POST", "/api/api-tokens", 400, json={"name": "x",
                                                                 "expires_at": "soon"})
    assert body["field"] == "expires_at"


async def test_a_token_cannot_revoke_itself_over_the_api(hub: RunningHub, api: Api) -> None:
    async with hub.hub.sessions() as session:
        own = (await session.execute(sa.select(ApiToken.id).where(
            ApiToken.name == "test admin"))).scalar_one()
    body = await api.error("DELETE", f"/api/api-tokens/{own}", 409, "own_token")
    assert body["id"] == own
    await api.ok("GET", "/api/api-tokens")


async def test_expired_tokens_are_refused(hub: RunningHub, api: Api) -> None:
    past = await create_token(hub.hub.sessions, "old", ["read"],
                              expires_at=utcnow() - timedelta(seconds=1))
    future = await create_token(hub.hub.sessions, "new", ["read"],
                                expires_at=utcnow() + timedelta(days=1))
    await api.error("GET", "/api/connected", 401, auth=False, headers=_bearer(past))
    assert (await api.get("/api/connected", auth=False, headers=_bearer(future))).status == 200
    listed = {t["name"]: t["state"] for t in (await api.ok("GET", "/api/api-tokens"))["tokens"]}
    assert (listed["old"], listed["new"]) == ("expired", "active")


async def test_last_used_is_written_at_most_once_a_minute(hub: RunningHub, api: Api) -> None:
    token = await create_token(hub.hub.sessions, "scraper", ["metrics:read"])

    async def last_used() -> object:
        async with hub.hub.sessions() as session:
            return (await session.execute(sa.select(ApiToken.last_used_at).where(
                ApiToken.name == "scraper"))).scalar_one()

    assert await last_used() is None
    assert (await api.get("/metrics", auth=False, headers=_bearer(token))).status == 200
    assert await last_used() is not None
    # Clear it: the next requests within the minute must not write it again.
    async with hub.hub.sessions() as session, session.begin():
        await session.execute(sa.update(ApiToken).where(ApiToken.name == "scraper")
                              .values(last_used_at=None))
    for _ in range(3):
        assert (await api.get("/metrics", auth=False, headers=_bearer(token))).status == 200
    assert await last_used() is None


async def test_what_narrow_scopes_reach(hub: RunningHub, api: Api, station: object) -> None:
    metrics = _bearer(await create_token(hub.hub.sessions, "prometheus", ["metrics:read"]))
    read = _bearer(await create_token(hub.hub.sessions, "viewer", ["read"]))
    commands = _bearer(await create_token(hub.hub.sessions, "operator", ["commands"]))

    async def status(method: str, path: str, headers: dict[str, str], **kw: object) -> int:
        return (await api.call(method, path, auth=False, headers=headers, **kw)).status

    # metrics:read: /metrics and nothing else.
    assert await status("GET", "/metrics", metrics) == 200
    assert await status("GET", "/api/connected", metrics) == 403
    assert await status("POST", "/api/reset", metrics, json={"station_id": STATION}) == 403
    # read: the read-only routes (and /metrics), no commands, no token administration.
    assert await status("GET", "/api/connected", read) == 200
    assert await status("GET", "/metrics", read) == 200
    assert await status("POST", "/api/reset", read, json={"station_id": STATION}) == 403
    assert await status("GET", f"/rebootChargePoint/{STATION}", read) == 403
    assert await status("GET", "/api/api-tokens", read) == 403
    # commands: station commands (GET and POST forms), not data writes nor tokens.
    assert await status("POST", "/api/reset", commands, json={"station_id": STATION}) == 200
    assert await status("POST", f"/rebootChargePoint/{STATION}", commands) == 200
    assert await status("PUT", "/api/id-tags", commands, json={"id_tag": "T1"}) == 403
    assert await status("POST", "/api/api-tokens", commands, json={"name": "x"}) == 403
