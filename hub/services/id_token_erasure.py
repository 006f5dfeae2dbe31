"""GDPR: the hub's own erasure of an id token's personal data.

The token (RFID uid, eMAID, ...) is replaced everywhere the core keeps it by one random
pseudonym, ``erased-<16 hex>``: transactions stay (billing, statistics, energy totals), but no
longer name the customer, and the transactions of the same token still belong together. The
token's id_tags row goes; the message log's frames are rewritten; the customer-information
reports stations sent about it are deleted; the erasure is recorded by its pseudonym only.
Features keep their own personal data (OICP sessions, Plug&Charge contracts): they hook
``IdTokenErased`` with ``hub.bus.on_commit`` and pseudonymise in the same transaction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.group_commit import emit
from hub.db.models import IdTag, OcppMessage, Reservation, Transaction
from hub.db.models201 import TransactionEventRecord
from hub.db.models_blocks import IdTokenErasure, StationReportPart
from hub.events import IdTokenErased
from hub.services.report_parts import CUSTOMER_INFORMATION


@dataclass(frozen=True)
class Erasure:
    pseudonym: str
    transactions: int
    reservations: int
    transaction_events: int
    messages: int
    id_tag_removed: bool


def new_pseudonym() -> str:
    return f"erased-{secrets.token_hex(8)}"


async def _replace(conn: AsyncConnection, column: sa.Column, token: str,
                   pseudonym: str) -> int:
    table = column.table
    result = await conn.execute(sa.update(table).where(column == token).values(
        {column.name: pseudonym}))
    return int(result.rowcount or 0)


async def erase_id_token(hub: Hub, id_token: str) -> Erasure:
    pseudonym = new_pseudonym()
    event = IdTokenErased(id_token=id_token, pseudonym=pseudonym)
    quoted = f'"{id_token}"'

    async def work(conn: AsyncConnection) -> Erasure:
        transactions = (await conn.execute(sa.select(sa.func.count()).where(sa.or_(
            Transaction.id_tag == id_token, Transaction.stop_id_tag == id_token)))).scalar_one()
        await _replace(conn, Transaction.__table__.c.id_tag, id_token, pseudonym)
        await _replace(conn, Transaction.__table__.c.stop_id_tag, id_token, pseudonym)
        reservations = await _replace(conn, Reservation.__table__.c.id_tag, id_token,
                                      pseudonym)
        await _replace(conn, Reservation.__table__.c.parent_id_tag, id_token, pseudonym)
        events = await _replace(conn, TransactionEventRecord.__table__.c.id_token, id_token,
                                pseudonym)
        await _replace(conn, IdTag.__table__.c.parent_id_tag, id_token, pseudonym)
        removed = (await conn.execute(sa.delete(IdTag).where(IdTag.id_tag == id_token)))
        messages = await _rewrite_messages(conn, quoted, pseudonym)
        # What stations reported about the customer (CustomerInformation) goes entirely.
        await conn.execute(sa.delete(StationReportPart).where(
            StationReportPart.kind == CUSTOMER_INFORMATION,
            sa.cast(StationReportPart.data, sa.Text).contains(id_token, autoescape=True)))
        await conn.execute(sa.insert(IdTokenErasure).values(
            pseudonym=pseudonym, transactions=transactions))
        await emit(conn, event)
        return Erasure(pseudonym, transactions, reservations, events, messages,
                       bool(removed.rowcount))

    erasure = await hub.committer.run(work)
    hub.id_tag_cache.forget([id_token])
    # Frames still in the message log's queue are written within a flush interval: a second
    # pass after it catches them.
    await asyncio.sleep(hub.config.message_log.flush_interval * 2)

    async def late(conn: AsyncConnection) -> int:
        return await _rewrite_messages(conn, quoted, pseudonym)

    late_messages = await hub.committer.run(late)
    return dataclasses.replace(erasure, messages=erasure.messages + late_messages)


async def _rewrite_messages(conn: AsyncConnection, quoted: str, pseudonym: str) -> int:
    """The message log keeps frames as text: every quoted occurrence is rewritten."""
    result = await conn.execute(sa.update(OcppMessage).where(
        OcppMessage.payload.contains(quoted, autoescape=True)).values(
        payload=sa.func.replace(OcppMessage.payload, quoted, f'"{pseudonym}"')))
    return int(result.rowcount or 0)
