"""Cursor pagination: walking forwards and backwards over random data sets finds every site
exactly once, in order, with ``has_more`` right at every step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.db.base import utcnow
from sites_api.models import Organisation, Site
from tests.harness import RunningHub
from tests.sites_api.conftest import Api

ORGS = ("org-a", "org-b")

site_sets = st.lists(st.tuples(st.sampled_from(ORGS), st.sampled_from([None, "r1", "r2"])),
                     max_size=25)


async def reset_sites(hub: RunningHub, sites: list[tuple[str, str | None]]) -> list[int]:
    """Replace every site with ``sites`` (org, reference_id); return their ids in order."""
    async with hub.hub.engine.begin() as conn:
        await conn.execute(sa.delete(Site.__table__))
        orgs = dict((await conn.execute(sa.select(Organisation.key, Organisation.id))).all())
        for key in ORGS:
            if key not in orgs:
                orgs[key] = (await conn.execute(sa.insert(Organisation.__table__).values(
                    key=key, name=key.upper(), created_at=utcnow()
                ).returning(Organisation.id))).scalar_one()
        ids = []
        for i, (org, ref) in enumerate(sites):
            ids.append((await conn.execute(sa.insert(Site.__table__).values(
                organisation_id=orgs[org], name=f"site {i}", reference_id=ref,
                created_at=utcnow(), updated_at=utcnow(), version=1,
            ).returning(Site.id))).scalar_one())
    return ids


async def walk(api: Api, limit: int, query: str, expected: list[str]) -> None:
    pages: list[list[str]] = []
    cursor = ""
    while True:
        status, page, _ = await api.get(f"/sites?limit={limit}{query}{cursor}")
        assert status == 200, page
        ids = [s["id"] for s in page["data"]]
        seen = sum(map(len, pages))
        assert ids == expected[seen:seen + limit]
        assert page["has_more"] == (seen + len(ids) < len(expected))
        pages.append(ids)
        if not page["has_more"]:
            break
        cursor = f"&starting_after={ids[-1]}"
    assert sum(pages, []) == expected
    if not expected:
        assert pages == [[]]
        return

    # Backwards from the last page: each page is the `limit` sites just before the cursor.
    collected = list(pages[-1])
    while True:
        status, page, _ = await api.get(f"/sites?limit={limit}{query}"
                                        f"&ending_before={collected[0]}")
        assert status == 200, page
        ids = [s["id"] for s in page["data"]]
        before = expected[:expected.index(collected[0])]
        assert ids == before[-limit:] if before else ids == []
        assert page["has_more"] == (len(before) > len(ids))
        collected = ids + collected
        if not page["has_more"]:
            break
    assert collected == expected


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sites=site_sets, limit=st.integers(1, 7), as_org=st.booleans(),
       reference=st.sampled_from([None, "r1", "r2"]))
async def test_walks_find_every_site_once_in_order(
        hub: RunningHub, admin: Api, token_api: Callable[..., Any],
        sites: list[tuple[str, str | None]], limit: int, as_org: bool,
        reference: str | None) -> None:
    ids = await reset_sites(hub, sites)
    api = await token_api("org-a", "sites:read") if as_org else admin
    expected = [str(i) for i, (org, ref) in zip(ids, sites, strict=True)
                if (not as_org or org == "org-a") and (reference is None or ref == reference)]
    query = f"&reference_id={reference}" if reference else ""
    await walk(api, limit, query, expected)


async def test_default_and_maximum_page_sizes(hub: RunningHub, admin: Api) -> None:
    ids = await reset_sites(hub, [("org-a", None)] * 105)
    _, page, _ = await admin.get("/sites")
    assert len(page["data"]) == 30 and page["has_more"]
    _, page, _ = await admin.get("/sites?limit=100")
    assert [s["id"] for s in page["data"]] == [str(i) for i in ids[:100]]
    # A cursor stays usable after its site is deleted.
    status, _, _ = await admin.delete(f"/sites/{ids[50]}")
    assert status == 204
    _, page, _ = await admin.get(f"/sites?limit=2&starting_after={ids[50]}")
    assert [s["id"] for s in page["data"]] == [str(ids[51]), str(ids[52])]


async def test_bad_pagination_parameters_name_the_field(admin: Api) -> None:
    for query, field in (("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                         ("starting_after=abc", "starting_after"),
                         ("ending_before=-1", "ending_before"),
                         ("starting_after=1&ending_before=5", "ending_before")):
        status, body, _ = await admin.get(f"/sites?{query}")
        assert status == 400, query
        assert body["error"] == "invalid_request" and body["field"] == field, body
