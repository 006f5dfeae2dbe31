"""Flatpeak-style cursor pagination: ``starting_after`` / ``ending_before`` an object id,
``limit`` 1..100 (default 30). Cursors are site ids, compared as keys, so a cursor stays valid
after its site is deleted and a page never skips or repeats a site while others are added."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hub.errors import bad_request
from hub.openapi import query

DEFAULT_LIMIT = 30
MAX_LIMIT = 100


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    starting_after: int | None = None
    ending_before: int | None = None
    reference_id: str | None = None


def _cursor(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise bad_request(name, "must be the id of a site")
    return int(value)


def parse_page_request(params: Mapping[str, str]) -> PageRequest:
    raw_limit = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise bad_request("limit", f"must be an integer from 1 to {MAX_LIMIT}")
        limit = int(raw_limit)
    after = _cursor(params, "starting_after")
    before = _cursor(params, "ending_before")
    if after is not None and before is not None:
        raise bad_request("ending_before", "use either starting_after or ending_before")
    reference_id = params.get("reference_id")
    if reference_id is not None and len(reference_id) > 100:
        raise bad_request("reference_id", "must be at most 100 characters")
    return PageRequest(limit, after, before, reference_id)


PAGE_PARAMETERS = [
    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                    "default": DEFAULT_LIMIT}, description="page size"),
    query("starting_after", description="next page: the id of the last site you have"),
    query("ending_before", description="previous page: the id of the first site you have"),
    query("reference_id", description="only sites with this reference_id"),
]
