"""The console's session store: idle and lifetime ends, pruning, the size bound."""

from __future__ import annotations

from hub.console.sessions import ConsoleSessions


def test_sessions_end_when_idle_or_too_old_and_abandoned_ones_are_pruned() -> None:
    clock = [0.0]
    sessions = ConsoleSessions(idle=60, lifetime=300, limit=100, clock=lambda: clock[0])
    kept = sessions.open(1)
    abandoned = [sessions.open(2).id for _ in range(10)]
    for _ in range(5):  # used every 50 s: never idle
        clock[0] += 50
        assert sessions.get(kept.id) is kept
        sessions.open(3)  # each login prunes what has been idle for 60 s
    assert len(sessions) == 3  # kept and the last two logins: no abandoned one stays
    assert all(sessions.get(session_id) is None for session_id in abandoned)
    clock[0] += 50
    assert sessions.get(kept.id) is None  # used 50 s ago, but opened 300 s ago


def test_the_least_recently_used_session_goes_first_at_the_limit() -> None:
    sessions = ConsoleSessions(limit=2)
    first, second = sessions.open(1), sessions.open(2)
    assert sessions.get(first.id) is first  # now second is the least recently used
    third = sessions.open(3)
    assert sessions.get(second.id) is None
    assert sessions.get(first.id) is first and sessions.get(third.id) is third
    sessions.close_user(1)
    assert sessions.get(first.id) is None and len(sessions) == 1
