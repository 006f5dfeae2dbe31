"""Authorisation of id tags the hub does not know locally (``hub.remote_authorizers``).

The core asks local tags first; this authoriser then answers, in order:

1. the EvcoID of a pending remote start at this station (Hubject already authorised it);
2. a tag Hubject authorised here a moment ago (the charger asks again at StartTransaction, and
   at StopTransaction): the cached session answers, no second AuthorizeStart;
3. a tag presented while its Hubject session is charging at this station: AuthorizeStop;
4. otherwise an RFID UID or EvcoID goes to Hubject as AuthorizeStart; an authorised answer
   becomes a pending session that the charger's StartTransaction then links.

A Hubject that cannot be reached gives no answer (None): the core then says Invalid.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.base import utcnow
from hub.feature_api import Hub
from hub.services.authorization import Authorization
from oicp.client import Ack, HubjectError, Operation
from oicp.ids import identification_for_tag, is_session_id
from oicp.models import ACTIVE, AUTHORIZE, PENDING, RESERVED, STOPPED
from oicp.models import OicpSession as S

if TYPE_CHECKING:
    from oicp.runtime import OicpRuntime

log = logging.getLogger(__name__)
SESSIONS = S.__table__


class HubjectAuthorizer:
    def __init__(self, runtime: OicpRuntime) -> None:
        self.rt = runtime
        self.config = runtime.config
        self.client = runtime.client
        self.authorize_start_requests = 0
        self.authorize_stop_requests = 0

    async def __call__(self, hub: Hub, station_id: str, id_tag: str) -> Authorization | None:
        tag = id_tag.upper()
        now = utcnow()
        cache_from = now - timedelta(seconds=self.config.authorization_cache_seconds)
        async with hub.engine.connect() as conn:
            known = (await conn.execute(sa.select(SESSIONS).where(
                SESSIONS.c.station_id == station_id, sa.func.upper(SESSIONS.c.id_tag) == tag,
                sa.or_(
                    SESSIONS.c.state.in_((PENDING, ACTIVE, RESERVED)),
                    sa.and_(SESSIONS.c.state == STOPPED, SESSIONS.c.updated_at >= cache_from),
                ),
            ).order_by(SESSIONS.c.created_at.desc()).limit(1))).first()
        if known is not None:
            # Between StartTransaction and StopTransaction the charger only asks when someone
            # presents the card to stop: that is Hubject's AuthorizeStop.
            if known.kind == AUTHORIZE and known.state == ACTIVE:
                return await self._authorize_stop(known, id_tag)
            return Authorization("Accepted")
        if not self.config.authorize_remote:
            return None
        identification = identification_for_tag(id_tag)
        if identification is None:
            return None
        return await self._authorize_start(station_id, id_tag, identification)

    async def _authorize_start(self, station_id: str, id_tag: str,
                               identification: dict[str, Any]) -> Authorization | None:
        body: dict[str, Any] = {"OperatorID": self.config.operator_id,
                                "Identification": identification}
        async with self.rt.hub.engine.connect() as conn:
            refs = await self.rt.directory.for_station(conn, station_id)
        if len(refs) == 1:  # recommended when known (helps support); unknown with several
            body["EvseID"] = refs[0].evse_id
        self.authorize_start_requests += 1
        try:
            answer = await self.client.send(Operation.AuthorizeStart, body,
                                            timeout=self.config.authorize_timeout)
        except HubjectError as error:
            log.warning("AuthorizeStart for a tag at %s failed: %s", station_id, error)
            return None
        ack = Ack.from_answer(answer)
        if answer.get("AuthorizationStatus") != "Authorized" or not is_session_id(ack.session_id):
            return Authorization("Invalid")
        now = utcnow()
        values = {
            "session_id": ack.session_id, "kind": AUTHORIZE, "state": PENDING,
            "provider_id": answer.get("ProviderID"), "station_id": station_id,
            "evse_id": body.get("EvseID"), "id_tag": id_tag, "identification": identification,
            "stop_identifications": answer.get("AuthorizationStopIdentifications"),
            "emp_partner_session_id": answer.get("EMPPartnerSessionID"),
            "cpo_partner_session_id": answer.get("CPOPartnerSessionID"),
            "created_at": now, "updated_at": now,
            "expires_at": now + timedelta(seconds=self.config.authorization_cache_seconds),
        }

        async def work(conn: AsyncConnection) -> None:
            exists = (await conn.execute(sa.select(SESSIONS.c.session_id).where(
                SESSIONS.c.session_id == ack.session_id))).first()
            if exists is None:
                await conn.execute(sa.insert(SESSIONS).values(**values))

        await self.rt.hub.committer.run(work)
        return Authorization("Accepted")

    async def _authorize_stop(self, session: Any, id_tag: str) -> Authorization | None:
        identification = session.identification or identification_for_tag(id_tag)
        if identification is None:
            return None
        body: dict[str, Any] = {"SessionID": session.session_id,
                                "OperatorID": self.config.operator_id,
                                "Identification": identification}
        if session.evse_id:
            body["EvseID"] = session.evse_id
        if session.cpo_partner_session_id:
            body["CPOPartnerSessionID"] = session.cpo_partner_session_id
        if session.emp_partner_session_id:
            body["EMPPartnerSessionID"] = session.emp_partner_session_id
        self.authorize_stop_requests += 1
        try:
            answer = await self.client.send(Operation.AuthorizeStop, body,
                                            timeout=self.config.authorize_timeout)
        except HubjectError as error:
            log.warning("AuthorizeStop for session %s failed: %s", session.session_id, error)
            return None
        if answer.get("AuthorizationStatus") == "Authorized":
            return Authorization("Accepted")
        return Authorization("Invalid")
