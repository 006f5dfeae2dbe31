"""The load manager's sent limits: forgetting a station that connects again touches only its
connectors (kept per station, so a boot storm does not scan every limit per connect)."""

from __future__ import annotations

from hub.db.base import utcnow
from sites_api.load.sent_limits import SentLimit, SentLimits


def _limit(amps: float) -> SentLimit:
    return SentLimit(amps, 1, 0.0, utcnow(), "Accepted")


def test_forget_station_drops_its_connectors_only():
    sent = SentLimits()
    sent[("A", 1)], sent[("A", 2)], sent[("B", 1)] = _limit(6), _limit(7), _limit(8)
    sent.forget_station("A")
    assert dict(sent) == {("B", 1): sent[("B", 1)]} and sent[("B", 1)].amps == 8
    sent.forget_station("A")  # nothing left of it: no error
    sent.pop(("B", 1))
    assert len(sent) == 0 and sent.get(("B", 1)) is None
    # A connector deleted on its own leaves the station's index right for the next forget.
    sent[("C", 1)], sent[("C", 2)] = _limit(6), _limit(6)
    del sent[("C", 1)]
    sent[("C", 3)] = _limit(9)
    sent.forget_station("C")
    assert len(sent) == 0
