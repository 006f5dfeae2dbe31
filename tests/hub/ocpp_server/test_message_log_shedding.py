"""The message log under load samples routine frames, never the ones that matter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.ocpp_server.message_log import MessageLog, is_routine, kept_in_sample


def _tx_event(uid: str, event_type: str) -> str:
    return json.dumps([2, uid, "TransactionEvent", {"eventType": event_type, "seqNo": 1}])


@pytest.mark.parametrize(("direction", "message_type", "action", "frame", "routine"), [
    ("in", 2, "Heartbeat", '[2,"a","Heartbeat",{}]', True),
    ("out", 3, "Heartbeat", '[3,"a",{}]', True),
    ("in", 2, "MeterValues", "[2,...]", True),
    ("in", 2, "StatusNotification", "[2,...]", True),
    ("in", 2, "TransactionEvent", _tx_event("a", "Updated"), True),
    ("in", 2, "TransactionEvent", '[2, "a", "TransactionEvent", {"eventType": "Updated"}]', True),
    # Transaction starts and stops.
    ("in", 2, "TransactionEvent", _tx_event("a", "Started"), False),
    ("in", 2, "TransactionEvent", _tx_event("a", "Ended"), False),
    ("in", 2, "StartTransaction", "[2,...]", False),
    ("in", 2, "StopTransaction", "[2,...]", False),
    # CALLERRORs, whoever sends them.
    ("out", 4, "MeterValues", '[4,"a","FormatViolation","",{}]', False),
    ("in", 4, "Heartbeat", '[4,"a","InternalError","",{}]', False),
    ("out", 4, None, '[4,"-1","FormatViolation","",{}]', False),
    # Security events, and whatever else a charger says.
    ("in", 2, "SecurityEventNotification", "[2,...]", False),
    ("in", 2, "BootNotification", "[2,...]", False),
    ("in", 2, "Authorize", "[2,...]", False),
    # The hub's commands and the stations' answers to them.
    ("out", 2, "TriggerMessage", "[2,...]", False),
    ("out", 2, "StatusNotification", "[2,...]", False),
    ("in", 3, "TriggerMessage", '[3,"a",{}]', False),
    ("in", 3, "MeterValues", '[3,"a",{}]', False),
])
def test_what_is_routine(direction: str, message_type: int, action: str | None, frame: str,
                         routine: bool) -> None:
    assert is_routine(direction, message_type, action, frame) is routine


def _logged(log: MessageLog) -> list[dict[str, Any]]:
    rows = []
    while log.size:
        rows.append(log._queue.get_nowait())
    return rows


def test_a_filling_queue_samples_routine_exchanges_and_keeps_the_rest() -> None:
    log = MessageLog(committer=None, max_queue=10_000, shed_at=0.001, sample_every=10)  # type: ignore[arg-type]
    for n in range(10):  # fills the queue to where shedding starts
        log.record("CP", "in", 2, f"boot{n}", "BootNotification", "[2,...]")
    important = 0
    for n in range(300):
        uid = f"u{n}"
        log.record("CP", "in", 2, uid, "MeterValues", "[2,...]")
        log.record("CP", "out", 3, uid, "MeterValues", "[3,...]")
        log.record("CP", "in", 2, f"te{n}", "TransactionEvent", _tx_event(f"te{n}", "Updated"))
        log.record("CP", "out", 3, f"te{n}", "TransactionEvent", "[3,...]")
        for row in (("in", 2, f"s{n}", "TransactionEvent", _tx_event(f"s{n}", "Started")),
                    ("out", 3, f"s{n}", "TransactionEvent", '[3,"x",{"idTokenInfo":{}}]'),
                    ("in", 2, f"e{n}", "TransactionEvent", _tx_event(f"e{n}", "Ended")),
                    ("out", 3, f"e{n}", "TransactionEvent", "[3,...]"),
                    ("out", 4, f"x{n}", "MeterValues", "[4,...]"),
                    ("in", 2, f"sec{n}", "SecurityEventNotification", "[2,...]"),
                    ("out", 2, f"cmd{n}", "TriggerMessage", "[2,...]"),
                    ("in", 3, f"cmd{n}", "TriggerMessage", "[3,...]")):
            log.record("CP", *row)
            important += 1
    rows = _logged(log)
    assert log.dropped == 0
    kept = {(r["direction"], r["unique_id"]) for r in rows}
    # Everything that matters is there.
    assert sum(1 for r in rows if not r["unique_id"].startswith(("u", "te"))) == 10 + important
    # Routine exchanges: about one in ten, each kept or shed whole (CALL with its answer).
    for prefix in ("u", "te"):
        calls = {uid for d, uid in kept if d == "in" and uid.startswith(prefix)
                 and uid[len(prefix):].isdigit()}
        answers = {uid for d, uid in kept if d == "out" and uid.startswith(prefix)
                   and uid[len(prefix):].isdigit()}
        assert calls == answers
        assert calls == {f"{prefix}{n}" for n in range(300)
                         if kept_in_sample("CP", f"{prefix}{n}", 10)}
        assert 10 <= len(calls) <= 60
    assert log.metrics()["sampled_out"] == log.sampled_out > 0


def test_below_the_mark_nothing_is_sampled() -> None:
    log = MessageLog(committer=None, max_queue=1000, shed_at=0.5, sample_every=10)  # type: ignore[arg-type]
    for n in range(400):
        log.record("CP", "in", 2, f"u{n}", "MeterValues", "[2,...]")
    assert log.size == 400 and log.sampled_out == 0
