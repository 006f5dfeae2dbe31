"""Hubject's remote operations mapped to OCPP commands, answered as OICP acknowledgements.

remote start -> RemoteStartTransaction, remote stop -> RemoteStopTransaction, reservation start
-> ReserveNow, reservation stop -> CancelReservation, all through ``hub.commands``. The Hubject
SessionID is stored before the charger is asked, so that the transaction it starts is linked to
it (``oicp.facts``) and the notifications and the CDR carry it.

Every outcome is an eRoamingAcknowledgement: 000 success, 022 data error, 300 partner not found,
017 unauthorized, 400 session invalid, 501 communication to EVSE failed, 510 no EV connected,
601 already reserved, 602 in use, 603 unknown EvseID, 700 out of service, 320 not available.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import commands
from hub.db.base import utcnow
from hub.db.models import Connector, Transaction
from hub.services import station_commands
from hub.services.reservations import reserve_now
from oicp.config import PROVIDER_ID
from oicp.evses import BUSY, OUT_OF_SERVICE, EvseRef
from oicp.facts import end_reservation
from oicp.ids import RFID_UID, evco_of, is_evco_id, is_evse_id, is_session_id, uid_of
from oicp.messages import acknowledgement
from oicp.models import (
    ACTIVE,
    CANCELLED,
    ENDED,
    FAILED,
    PENDING,
    REMOTE,
    RESERVATION,
    RESERVED,
    STOPPED,
)
from oicp.models import OicpSession as S

if TYPE_CHECKING:
    from oicp.runtime import OicpRuntime

log = logging.getLogger(__name__)
SESSIONS = S.__table__


@dataclass
class Outcome:
    ack: dict[str, Any]
    station_id: str | None = None
    connector_id: int | None = None
    ocpp_status: str | None = None
    transaction_id: int | None = None
    reservation_id: int | None = None

    @property
    def accepted(self) -> bool:
        return bool(self.ack.get("Result"))


class BadRequest(Exception):
    def __init__(self, code: str, info: str) -> None:
        super().__init__(info)
        self.code = code
        self.info = info


class RemoteControl:
    def __init__(self, runtime: OicpRuntime) -> None:
        self.rt = runtime
        self.hub = runtime.hub
        self.config = runtime.config

    # -- input ---------------------------------------------------------------------------------

    def _common(self, body: Any, provider_in_path: str | None, *,
                session_required: bool = True) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("022", "the request body must be a JSON object")
        session_id = body.get("SessionID")
        if session_id is None and session_required:
            raise BadRequest("022", "SessionID is required")
        if session_id is not None and not is_session_id(session_id):
            raise BadRequest("022", "SessionID is not a valid OICP SessionID")
        provider = body.get("ProviderID")
        if not isinstance(provider, str) or not PROVIDER_ID.match(provider):
            raise BadRequest("022", "ProviderID is missing or not a valid OICP ProviderID")
        if provider_in_path is not None and _norm(provider_in_path) != _norm(provider):
            raise BadRequest("022", "ProviderID does not match the providerID of the path")
        if self.config.providers and _norm(provider) not in {_norm(p) for p in
                                                             self.config.providers}:
            raise BadRequest("300", f"provider {provider} is not a known partner")
        evse_id = body.get("EvseID")
        if not is_evse_id(evse_id):
            raise BadRequest("022", "EvseID is missing or not a valid OICP EvseID")
        for key in ("CPOPartnerSessionID", "EMPPartnerSessionID", "PartnerProductID"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise BadRequest("022", f"{key} must be a string")
        return body

    @staticmethod
    def _id_tag(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        identification = body.get("Identification")
        if not isinstance(identification, dict):
            raise BadRequest("022", "Identification is required")
        evco = evco_of(identification)
        uid = uid_of(identification)
        if evco is not None:
            if not is_evco_id(evco):
                raise BadRequest("022", "the EvcoID of Identification is not valid")
            return evco.upper(), identification
        if uid is not None and RFID_UID.match(uid.upper()):
            return uid.upper(), identification
        raise BadRequest("022", "Identification carries no valid EvcoID or UID")

    async def _evse(self, evse_id: str) -> EvseRef:
        async with self.hub.engine.connect() as conn:
            ref = await self.rt.directory.by_evse_id(conn, evse_id)
        if ref is None:
            raise BadRequest("603", f"EVSE {evse_id} is not known to this operator")
        return ref

    async def _session(self, session_id: str) -> Any:
        async with self.hub.engine.connect() as conn:
            return (await conn.execute(sa.select(SESSIONS).where(
                SESSIONS.c.session_id == session_id))).first()

    async def _check_free(self, ref: EvseRef, id_tag: str, *, reserving: bool) -> str | None:
        """None when the EVSE can take a new session for ``id_tag``; else the OCPP status."""
        if not self.hub.commands.is_connected(ref.station_id):
            raise BadRequest("501", f"charging station {ref.station_id} is offline")
        async with self.hub.engine.connect() as conn:
            # A transaction without an id token is an EV plugged in and waiting for
            # authorisation (OCPP 2.0.1, TxStartPoint EVConnected): the remote start is it.
            rows = {r.connector_id: r for r in (await conn.execute(
                sa.select(Connector.connector_id, Connector.status,
                          Connector.current_transaction_id,
                          Transaction.id_tag.label("transaction_id_tag"))
                .outerjoin(Transaction, Transaction.id == Connector.current_transaction_id)
                .where(Connector.station_id == ref.station_id,
                       Connector.connector_id.in_((0, ref.connector_id))))).all()}
            reservation = (await conn.execute(sa.select(SESSIONS.c.id_tag).where(
                SESSIONS.c.evse_id == ref.evse_id, SESSIONS.c.state == RESERVED))).first()
            pending = (await conn.execute(sa.select(SESSIONS.c.session_id).where(
                SESSIONS.c.evse_id == ref.evse_id, SESSIONS.c.state == PENDING,
                SESSIONS.c.kind == REMOTE, SESSIONS.c.expires_at > utcnow()))).first()
        station, connector = rows.get(0), rows.get(ref.connector_id)
        status = connector.status if connector else None
        if (station and station.status in OUT_OF_SERVICE) or status in OUT_OF_SERVICE:
            raise BadRequest("700", f"EVSE {ref.evse_id} is out of service ({status})")
        authorised_transaction = connector is not None and (
            connector.current_transaction_id is not None
            and connector.transaction_id_tag is not None)
        if authorised_transaction or pending or (
                status in BUSY and (reserving or status != "Preparing")):
            raise BadRequest("602", f"EVSE {ref.evse_id} is in use ({status})")
        if status == "Reserved" or reservation is not None:
            if reserving or reservation is None or (reservation.id_tag or "").upper() != id_tag:
                raise BadRequest("601", f"EVSE {ref.evse_id} is reserved")
        return status

    async def _write(self, work: Any) -> Any:
        return await self.hub.committer.run(work)

    async def _set_state(self, session_id: str, state: str, **values: Any) -> None:
        async def work(conn: AsyncConnection) -> None:
            await conn.execute(sa.update(SESSIONS).where(SESSIONS.c.session_id == session_id)
                               .values(state=state, updated_at=utcnow(), **values))

        await self._write(work)

    def _remaining(self, started: float) -> float:
        left = self.config.webhook_deadline - (time.monotonic() - started) - 0.3
        return max(0.5, min(self.config.webhook_command_timeout, left))

    # -- operations ----------------------------------------------------------------------------

    async def start(self, body: Any, provider_in_path: str | None = None) -> Outcome:
        started = time.monotonic()
        try:
            body = self._common(body, provider_in_path)
            id_tag, identification = self._id_tag(body)
            ref = await self._evse(body["EvseID"])
            session_id = body["SessionID"]
            existing = await self._session(session_id)
            if existing is not None:
                if existing.evse_id == ref.evse_id and existing.state in (PENDING, ACTIVE):
                    return Outcome(self._ok(existing), ref.station_id, ref.connector_id)
                raise BadRequest("400", "SessionID was already used")
            status = await self._check_free(ref, id_tag, reserving=False)
        except BadRequest as bad:
            return Outcome(self._fail(bad, body))
        now = utcnow()
        values = {
            "session_id": session_id, "kind": REMOTE, "state": PENDING,
            "provider_id": body["ProviderID"], "evse_id": ref.evse_id,
            "station_id": ref.station_id, "connector_id": ref.connector_id, "id_tag": id_tag,
            "identification": identification,
            "emp_partner_session_id": body.get("EMPPartnerSessionID"),
            "cpo_partner_session_id": body.get("CPOPartnerSessionID"),
            "partner_product_id": body.get("PartnerProductID"),
            "created_at": now, "updated_at": now,
            "expires_at": now + timedelta(seconds=self.config.remote_start_expiry),
        }

        async def insert(conn: AsyncConnection) -> None:
            await conn.execute(sa.insert(SESSIONS).values(**values))

        await self._write(insert)
        outcome = Outcome(acknowledgement(True, "000"), ref.station_id, ref.connector_id)
        try:
            response = await station_commands.remote_start(
                self.hub, ref.station_id, id_tag, ref.connector_id,
                id_token_type=_token_type(id_tag), timeout=self._remaining(started))
        except commands.CommandFailed as error:
            await self._set_state(session_id, FAILED)
            outcome.ack = acknowledgement(False, "501", str(error), session_id=session_id)
            return outcome
        outcome.ocpp_status = response.status
        if response.status != "Accepted":
            await self._set_state(session_id, FAILED)
            code = "510" if status in (None, "Available") else "602"
            outcome.ack = acknowledgement(False, code, "the charging station rejected the "
                                          "remote start", session_id=session_id)
            return outcome
        outcome.ack = acknowledgement(True, "000", session_id=session_id,
                                      cpo_partner_session_id=values["cpo_partner_session_id"],
                                      emp_partner_session_id=values["emp_partner_session_id"])
        return outcome

    async def _own_session(self, body: Any, provider_in_path: str | None, kind: str,
                           unknown: str, other_evse: str, other_provider: str) -> Any:
        """(body, EVSE, session) of a stop/cancel request, or BadRequest: the session must
        exist with this kind (400), run on this EVSE (022) and belong to the caller (017)."""
        body = self._common(body, provider_in_path)
        ref = await self._evse(body["EvseID"])
        session = await self._session(body["SessionID"])
        if session is None or session.kind != kind:
            raise BadRequest("400", unknown)
        if session.evse_id != ref.evse_id:
            raise BadRequest("022", other_evse)
        if _norm(session.provider_id or "") != _norm(body["ProviderID"]):
            raise BadRequest("017", other_provider)
        return body, ref, session

    async def stop(self, body: Any, provider_in_path: str | None = None) -> Outcome:
        started = time.monotonic()
        try:
            body, ref, session = await self._own_session(
                body, provider_in_path, REMOTE, "no remote session with this SessionID",
                "the session runs on another EVSE", "the session belongs to another provider")
        except BadRequest as bad:
            return Outcome(self._fail(bad, body))
        outcome = Outcome(self._ok(session), ref.station_id, ref.connector_id,
                          transaction_id=session.transaction_id)
        if session.state == STOPPED:
            return outcome
        if session.state == PENDING:
            await self._set_state(session.session_id, CANCELLED)
            return outcome
        if session.state != ACTIVE:
            outcome.ack = acknowledgement(False, "400", f"the session is {session.state}",
                                          session_id=session.session_id)
            return outcome
        try:
            answer = await station_commands.remote_stop(
                self.hub, ref.station_id, session.transaction_id,
                timeout=self._remaining(started))
        except (commands.CommandFailed, station_commands.UnknownTransaction) as error:
            outcome.ack = acknowledgement(False, "501", str(error), session_id=session.session_id)
            return outcome
        outcome.ocpp_status = answer
        if answer != "Accepted":
            outcome.ack = acknowledgement(False, "501", "the charging station rejected the "
                                          "remote stop", session_id=session.session_id)
        return outcome

    async def reserve(self, body: Any, provider_in_path: str | None = None) -> Outcome:
        started = time.monotonic()
        try:
            body = self._common(body, provider_in_path)
            id_tag, identification = self._id_tag(body)
            duration = body.get("Duration", self.config.reservation_default_minutes)
            if duration is None:
                duration = self.config.reservation_default_minutes
            if not isinstance(duration, int) or isinstance(duration, bool) or not (
                    1 <= duration <= 99):
                raise BadRequest("022", "Duration must be 1 to 99 minutes")
            ref = await self._evse(body["EvseID"])
            session_id = body["SessionID"]
            existing = await self._session(session_id)
            if existing is not None:
                if existing.evse_id == ref.evse_id and existing.state == RESERVED:
                    return Outcome(self._ok(existing), ref.station_id, ref.connector_id,
                                   reservation_id=existing.reservation_id)
                raise BadRequest("400", "SessionID was already used")
            await self._check_free(ref, id_tag, reserving=True)
        except BadRequest as bad:
            return Outcome(self._fail(bad, body))
        now = utcnow()
        expiry = now + timedelta(minutes=duration)
        values = {
            "session_id": session_id, "kind": RESERVATION, "state": PENDING,
            "provider_id": body["ProviderID"], "evse_id": ref.evse_id,
            "station_id": ref.station_id, "connector_id": ref.connector_id, "id_tag": id_tag,
            "identification": identification,
            "emp_partner_session_id": body.get("EMPPartnerSessionID")
            or body.get("EMPPartnerSessionId"),
            "cpo_partner_session_id": body.get("CPOPartnerSessionID"),
            "partner_product_id": body.get("PartnerProductID"),
            "created_at": now, "started_at": now, "updated_at": now, "expires_at": expiry,
        }

        async def insert(conn: AsyncConnection) -> None:
            await conn.execute(sa.insert(SESSIONS).values(**values))

        await self._write(insert)
        outcome = Outcome(acknowledgement(True, "000"), ref.station_id, ref.connector_id)
        try:
            reservation_id, status = await reserve_now(
                self.hub, ref.station_id, ref.connector_id, id_tag, expiry,
                timeout=self._remaining(started), id_token_type=_token_type(id_tag))
        except commands.CommandFailed as error:
            await self._set_state(session_id, FAILED)
            outcome.ack = acknowledgement(False, "501", str(error), session_id=session_id)
            return outcome
        outcome.ocpp_status, outcome.reservation_id = status, reservation_id
        if status != "Accepted":
            await self._set_state(session_id, FAILED, reservation_id=reservation_id)
            code = {"Faulted": "700", "Unavailable": "700", "Occupied": "602"}.get(status, "320")
            outcome.ack = acknowledgement(False, code, f"the charging station answered {status}",
                                          session_id=session_id)
            return outcome
        await self._set_state(session_id, RESERVED, reservation_id=reservation_id)
        outcome.ack = acknowledgement(True, "000", session_id=session_id,
                                      cpo_partner_session_id=values["cpo_partner_session_id"],
                                      emp_partner_session_id=values["emp_partner_session_id"])
        return outcome

    async def cancel_reservation(self, body: Any,
                                 provider_in_path: str | None = None) -> Outcome:
        started = time.monotonic()
        try:
            body, ref, session = await self._own_session(
                body, provider_in_path, RESERVATION, "no reservation with this SessionID",
                "the reservation is for another EVSE",
                "the reservation belongs to another provider")
        except BadRequest as bad:
            return Outcome(self._fail(bad, body))
        outcome = Outcome(self._ok(session), ref.station_id, ref.connector_id,
                          reservation_id=session.reservation_id)
        if session.state == ENDED:
            return outcome
        if session.state != RESERVED:
            outcome.ack = acknowledgement(False, "400", f"the reservation is {session.state}",
                                          session_id=session.session_id)
            return outcome
        try:
            answer = await station_commands.cancel_reservation(
                self.hub, ref.station_id, session.reservation_id,
                timeout=self._remaining(started))
        except commands.CommandFailed as error:
            outcome.ack = acknowledgement(False, "501", str(error), session_id=session.session_id)
            return outcome
        # Rejected = the charger no longer holds it (expired or used): it is over either way.
        outcome.ocpp_status = answer
        now = utcnow()

        async def work(conn: AsyncConnection) -> None:
            current = (await conn.execute(sa.select(SESSIONS).where(
                SESSIONS.c.session_id == session.session_id))).first()
            if current is not None and current.state == RESERVED:
                await end_reservation(conn, self.rt, current, now, now)

        await self._write(work)
        self.rt.worker.wake()
        return outcome

    # -- answers -------------------------------------------------------------------------------

    @staticmethod
    def _ok(session: Any) -> dict[str, Any]:
        return acknowledgement(True, "000", session_id=session.session_id,
                               cpo_partner_session_id=session.cpo_partner_session_id,
                               emp_partner_session_id=session.emp_partner_session_id)

    @staticmethod
    def _fail(bad: BadRequest, body: Any) -> dict[str, Any]:
        session_id = body.get("SessionID") if isinstance(body, dict) else None
        return acknowledgement(False, bad.code, bad.info,
                               session_id=session_id if is_session_id(session_id) else None)


def _token_type(id_tag: str) -> str:
    """OCPP 2.0.1 idToken type: a contract id (EvcoID) is an eMAID, a card UID ISO14443."""
    return "eMAID" if is_evco_id(id_tag) else "ISO14443"


def _norm(provider_id: str) -> str:
    return provider_id.replace("*", "").replace("-", "").upper()
