"""GDPR: an erased id token leaves the roaming sessions (hub.events.IdTokenErased).

The sessions stay (they are the roaming record of charging that happened); the token in
``id_tag`` and wherever it appears in their identifications becomes the hub's pseudonym.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from oicp.models import OicpSession


def _replaced(value: Any, token: str, pseudonym: str) -> Any:
    if isinstance(value, dict):
        return {k: _replaced(v, token, pseudonym) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, token, pseudonym) for v in value]
    return pseudonym if value == token else value


async def erase_session_token(conn: AsyncConnection, token: str, pseudonym: str) -> int:
    rows = (await conn.execute(sa.select(
        OicpSession.session_id, OicpSession.identification, OicpSession.stop_identifications
    ).where(OicpSession.id_tag == token))).all()
    for session_id, identification, stops in rows:
        await conn.execute(sa.update(OicpSession).where(
            OicpSession.session_id == session_id).values(
            id_tag=pseudonym, identification=_replaced(identification, token, pseudonym),
            stop_identifications=_replaced(stops, token, pseudonym)))
    return len(rows)
