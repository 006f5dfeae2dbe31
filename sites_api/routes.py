"""Read routes: the canonical ``/sites`` API and Flipturn's ``/api/sites`` view.

Tokens with ``sites:read`` (or ``sites:write``) see their organisation's sites; another
organisation's site is a 404, so ids reveal nothing. Admin tokens see every site.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from hub.auth import request_token, requires_scope
from hub.errors import ApiError
from hub.openapi import operation
from sites_api.flipturn import flipturn_site
from sites_api.load.live import add_live_to_tree, current_live
from sites_api.load.runner import LOAD
from sites_api.pagination import PAGE_PARAMETERS, parse_page_request
from sites_api.reader import READER
from sites_api.readmodel import Scope, load_page, load_site, public
from sites_api.schemas import ref

READ = ("sites:read", "sites:write")
TAGS = ["sites"]


def scope_of(request: web.Request) -> Scope:
    token = request_token(request)
    if token.is_admin:
        return Scope(None, everything=True)
    return Scope(token.organisation_id)


SITE_PATH = r"/sites/{site_id:\d{1,18}}"


def site_id_of(request: web.Request) -> int:
    return int(request.match_info["site_id"])  # the route matches 1..18 digits only


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    # orjson: a page of 100 sites is ~1 MB of JSON; the stdlib encoder spends 5-10x longer.
    return web.Response(body=orjson.dumps(data), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def etag(version: int) -> str:
    return f'"{version}"'


async def site_response(app: web.Application, scope: Scope, site_id: int, status: int = 200,
                        headers: dict[str, str] | None = None) -> web.Response:
    site = await app[READER].run(load_site, scope, site_id)
    return site_answer(app, site, site_id, status, headers)


def site_answer(app: web.Application, site: dict[str, Any] | None, site_id: int,
                status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A loaded site as the API answers it, with its ETag (the stored version: the live
    values added here do not move it)."""
    if site is None:
        raise ApiError(404, "not_found", f"site {site_id} does not exist")
    return json_response(served(app, site), status,
                         {**(headers or {}), "ETag": etag(site["version"])})


def served(app: web.Application, site: dict[str, Any]) -> dict[str, Any]:
    """The canonical object as served: ``public`` plus the load manager's live values."""
    add_live_to_tree(site["fuse_tree"], current_live(app.get(LOAD), int(site["id"])))
    return public(site)


@requires_scope(*READ)
@operation("List sites (Flatpeak list envelope, cursor pagination)", tags=TAGS,
           parameters=PAGE_PARAMETERS, response=ref("SiteList"))
async def list_sites(request: web.Request) -> web.Response:
    page_request = parse_page_request(request.query)
    page = await request.app[READER].run(
        load_page, scope_of(request), limit=page_request.limit,
        starting_after=page_request.starting_after, ending_before=page_request.ending_before,
        reference_id=page_request.reference_id)
    return json_response({"object": "list", "url": "/sites", "has_more": page.has_more,
                          "data": [served(request.app, site) for site in page.data]})


@requires_scope(*READ)
@operation("One site with its local controller, fuse tree, chargers, ports and live status",
           tags=TAGS, response=ref("Site"),
           responses={"404": {"description": "no such site (or not your organisation's)"}})
async def get_site(request: web.Request) -> web.Response:
    return await site_response(request.app, scope_of(request), site_id_of(request))


@requires_scope(*READ)
@operation("Flipturn view: every site, charger and port, camelCase", tags=TAGS,
           response=ref("FlipturnSites"),
           description="Flipturn's `GET /api/sites` shape exactly; no parameters, no paging.")
async def flipturn_sites(request: web.Request) -> web.StreamResponse:
    # Every site at once (Flipturn's shape has no paging): ~5 KB a site, so the answer is
    # streamed a page at a time, each page read and serialised in the reader's thread. Memory
    # stays at one page, and the loop is never held for the whole estate.
    reader, scope = request.app[READER], scope_of(request)
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b'{"data":[')
    after: int | None = None
    while True:
        chunk, after, more = await reader.run(_flipturn_chunk, scope, after)
        if chunk:
            await response.write(chunk)
        if not more:
            break
    await response.write(b"]}")
    await response.write_eof()
    return response


FLIPTURN_PAGE = 100


def _flipturn_chunk(conn: Any, scope: Scope, after: int | None) -> tuple[bytes, int | None, bool]:
    """The next page of the Flipturn view as JSON array items (with a leading comma after the
    first page), the last site id in it and whether more follow."""
    page = load_page(conn, scope, limit=FLIPTURN_PAGE, starting_after=after)
    if not page.data:
        return b"", after, False
    items = b",".join(orjson.dumps(flipturn_site(site)) for site in page.data)
    return (items if after is None else b"," + items), int(page.data[-1]["id"]), page.has_more


def add_read_routes(app: web.Application) -> None:
    app.router.add_get("/sites", list_sites)
    app.router.add_get(SITE_PATH, get_site)
    app.router.add_get("/api/sites", flipturn_sites)
