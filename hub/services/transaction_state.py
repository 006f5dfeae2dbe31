"""What the hub knows of a station's 2.0.1 transactions, kept in memory by its session.

A 2.0.1 transaction is a stream of TransactionEvents; applying one needs the transaction's
current state (its ``transactions_201`` row, the columns of its core row that events change,
and the seqNos already seen). Reading that from the database for every event cost a round trip
per message; instead the station's session keeps it, and the database is read only for a
transaction the session has not seen yet (the first event, or the first after a reconnect:
the state is then rebuilt from the rows).

The states are values: applying an event computes a new one, which the session keeps only once
the event is committed. A unit that group commit re-runs on its own (its batch failed, e.g. on
a repeated event) reads the database again instead of trusting the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.models import Transaction
from hub.db.models201 import Transaction201, TransactionEventRecord

# The columns of the core row that TransactionEvents read or change.
CORE_COLUMNS = ("id", "connector_id", "status", "id_tag", "meter_start", "start_timestamp",
                "reservation_id")


@dataclass(frozen=True)
class TransactionState:
    """One transaction as its events left it: ``detail`` is its ``transactions_201`` row,
    ``core`` the columns CORE_COLUMNS of its ``transactions`` row."""

    detail: dict[str, Any]
    core: dict[str, Any]
    seen: frozenset[int]

    @property
    def transaction_id(self) -> int:
        return self.core["id"]

    def after(self, seq_no: int, detail: dict[str, Any], core: dict[str, Any]
              ) -> TransactionState:
        """This state with one more event applied (``detail`` / ``core``: what it changed)."""
        return TransactionState({**self.detail, **detail}, {**self.core, **core},
                                self.seen | {seq_no})


class TransactionStates:
    """A session's transactions by transactionId, the most recently used last.

    Bounded: a station runs a few transactions at a time; ones evicted (long ended) are read
    again should a late event for them come.
    """

    MAX = 32

    def __init__(self) -> None:
        self._states: dict[str, TransactionState] = {}

    def get(self, ocpp_transaction_id: str) -> TransactionState | None:
        return self._states.get(ocpp_transaction_id)

    def put(self, ocpp_transaction_id: str, state: TransactionState) -> None:
        self._states.pop(ocpp_transaction_id, None)
        self._states[ocpp_transaction_id] = state
        if len(self._states) > self.MAX:
            del self._states[next(iter(self._states))]

    def __len__(self) -> int:
        return len(self._states)


async def load_state(conn: AsyncConnection, station_id: str, ocpp_transaction_id: str
                     ) -> TransactionState | None:
    """The transaction's state from the database, or None when no event of it was stored."""
    params = {"b_station": station_id, "b_tx": ocpp_transaction_id}
    row = (await conn.execute(_STATE, params)).first()
    if row is None:
        return None
    seen = (await conn.execute(_SEEN, params)).scalars().all()
    mapping = row._mapping
    return TransactionState(
        detail={c.name: mapping[c.name] for c in _T201.c},
        core={name: mapping[f"tx_{name}"] for name in CORE_COLUMNS},
        seen=frozenset(seen))


# Built once (SQLAlchemy reuses their compiled forms).
_T201 = Transaction201.__table__
_TX = Transaction.__table__
_STATE = (
    sa.select(_T201, *(_TX.c[name].label(f"tx_{name}") for name in CORE_COLUMNS))
    .join(_TX, _TX.c.id == _T201.c.transaction_id)
    .where(_T201.c.station_id == sa.bindparam("b_station"),
           _T201.c.ocpp_transaction_id == sa.bindparam("b_tx")))
_SEEN = sa.select(TransactionEventRecord.seq_no).where(
    TransactionEventRecord.station_id == sa.bindparam("b_station"),
    TransactionEventRecord.ocpp_transaction_id == sa.bindparam("b_tx"))
