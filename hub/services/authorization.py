"""Id tag authorisation: local tags first, then any remote authoriser a feature registers
(e.g. Hubject AuthorizeStart for RFID cards the hub does not know)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import IdTag
from hub.id_tags import MISSING

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Authorization:
    """OCPP IdTagInfo: Accepted, Blocked, Expired, Invalid or ConcurrentTx."""

    status: str
    parent_id_tag: str | None = None
    expiry_date: datetime | None = None


RemoteAuthorizer = Callable[[Hub, str, str], Awaitable[Authorization | None]]


async def authorize(hub: Hub, station_id: str, id_tag: str) -> Authorization:
    tag = hub.id_tag_cache.get(id_tag)
    if tag is MISSING:
        tag = await _read_tag(hub, id_tag)
    if tag is not None:
        return local_status(tag)
    for authorizer in hub.remote_authorizers:
        try:
            answer = await authorizer(hub, station_id, id_tag)
        except Exception:
            log.exception("remote authorisation of a tag for %s failed", station_id)
            continue
        if answer is not None:
            return answer
    return Authorization("Invalid")


async def _read_tag(hub: Hub, id_tag: str) -> Any:
    """The stored tag (None: not stored), read once for every concurrent caller. A burst of
    stations starting at once (after a power cut, a fleet depot at 7:00) asks for the same few
    tags at the same moment, before the cache has them: one read answers them all, instead of
    one each queueing for the connection pool."""
    reads = hub.id_tag_cache.reading
    while (pending := reads.get(id_tag)) is not None:
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            if not pending.cancelled():
                raise  # this caller was cancelled
            # The reading caller was cancelled, not this one: share the next read, or read.
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    reads[id_tag] = future  # only ever set when absent, only ever deleted by its reader
    try:
        # Core, not the ORM: this read sits on the Authorize/StartTransaction hot path.
        async with hub.engine.connect() as conn:
            tag = (await conn.execute(_TAG, {"b_tag": id_tag})).first()
    except asyncio.CancelledError:
        future.cancel()
        raise
    except Exception as exc:
        future.set_exception(exc)
        future.exception()  # marked retrieved: nobody else may be waiting
        raise
    else:
        hub.id_tag_cache.put(id_tag, tag)
        future.set_result(tag)
        return tag
    finally:
        del reads[id_tag]


_TAG = sa.select(IdTag.__table__).where(IdTag.id_tag == sa.bindparam("b_tag"))


def local_status(tag: Any, now: datetime | None = None) -> Authorization:
    """The status of a stored tag (an IdTag or a row with its columns)."""
    now = now or utcnow()
    if tag.blocked:
        status = "Blocked"
    elif tag.expiry_date is not None and tag.expiry_date <= now:
        status = "Expired"
    else:
        status = "Accepted"
    return Authorization(status, tag.parent_id_tag, tag.expiry_date)
