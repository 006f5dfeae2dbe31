"""The console's session store (table console_sessions): idle and lifetime ends, pruning, the
size bound, what is kept of the cookie."""

from __future__ import annotations

import sqlalchemy as sa

from hub.console.sessions import ConsoleSessions, id_hash
from hub.console.users import find_user
from hub.db.models_console import ConsoleLoginSession
from tests.harness import RunningHub


async def _user_ids(running: RunningHub) -> list[int]:
    ids = []
    for name in ("alice", "olga", "victor"):
        user = await find_user(running.hub.sessions, name)
        assert user is not None
        ids.append(user.id)
    return ids


async def test_sessions_end_when_idle_or_too_old_and_abandoned_ones_are_pruned(
        console_hub: RunningHub) -> None:
    one, two, three = await _user_ids(console_hub)
    clock = [1_000_000.0]
    sessions = ConsoleSessions(lambda: console_hub.hub.sessions, idle=60, lifetime=300,
                               limit=100, clock=lambda: clock[0])
    kept = await sessions.open(one)
    abandoned = [(await sessions.open(two)).id for _ in range(10)]
    for _ in range(5):  # used every 50 s: never idle
        clock[0] += 50
        got = await sessions.get(kept.id)
        assert got is not None and got.user_id == one and got.csrf == kept.csrf
        assert got.user is not None and got.user.username == "alice"
        await sessions.open(three)  # each login prunes what has been idle for 60 s
    assert await sessions.count() == 3  # kept and the last two logins: no abandoned one stays
    assert [await sessions.get(session_id) for session_id in abandoned] == [None] * 10
    clock[0] += 50
    assert await sessions.get(kept.id) is None  # used 50 s ago, but opened 300 s ago


async def test_the_least_recently_used_session_goes_first_at_the_limit(
        console_hub: RunningHub) -> None:
    one, two, three = await _user_ids(console_hub)
    clock = [1_000_000.0]
    sessions = ConsoleSessions(lambda: console_hub.hub.sessions, limit=2,
                               clock=lambda: clock[0])
    first, second = await sessions.open(one), await sessions.open(two)
    clock[0] += 120  # past the touch interval: the use below is written
    assert (await sessions.get(first.id)).user_id == one  # now second is least recently used
    third = await sessions.open(three)
    assert await sessions.get(second.id) is None
    assert (await sessions.get(first.id)).user_id == one
    assert (await sessions.get(third.id)).user_id == three
    await sessions.close_user(one)
    assert await sessions.get(first.id) is None and await sessions.count() == 1


async def test_only_a_hash_of_the_cookie_is_stored_and_a_wrong_one_opens_nothing(
        console_hub: RunningHub) -> None:
    one, _two, _three = await _user_ids(console_hub)
    sessions = ConsoleSessions(lambda: console_hub.hub.sessions)
    session = await sessions.open(one)
    async with console_hub.hub.sessions() as db:
        keys = list((await db.execute(sa.select(ConsoleLoginSession.id_hash))).scalars())
    assert keys == [id_hash(session.id)] and session.id not in keys
    for wrong in (session.id[:-1], session.id + "x", id_hash(session.id), "", "x" * 4096):
        assert await sessions.get(wrong) is None
    assert (await sessions.get(session.id)).user_id == one
