"""A real hub on a real port, in the test's process, and what every station harness shares
(``Received``, ``running_charge_point``, ``basic_auth``, ``wait_for``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import ssl
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hub.app import StartupOptions, create_app
from hub.auth import create_token
from hub.config import load_config
from hub.context import HUB, Hub
from tests.hangdump import dump_asyncio_tasks


@dataclass
class RunningHub:
    app: web.Application
    runner: web.AppRunner
    port: int
    admin_token: str
    scheme: str = "ws"
    # The [files] data_dir start_hub made (removed on stop).
    files_dir: str = ""
    # The [pki] key_dir start_hub made (removed on stop).
    pki_dir: str = ""

    @property
    def hub(self) -> Hub:
        return self.app[HUB]

    @property
    def http_url(self) -> str:
        return f"{'https' if self.scheme == 'wss' else 'http'}://127.0.0.1:{self.port}"

    def ws_url(self, station_id: str, bare: bool = False) -> str:
        path = station_id if bare else f"ocpp/{station_id}"
        return f"{self.scheme}://127.0.0.1:{self.port}/{path}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    async def stop(self) -> None:
        """Shut the hub down as ``serve`` does (aiohttp's runner cleanup). A shutdown that does
        not finish within SHUTDOWN_LIMIT is a bug: the test fails, with every pending task's
        await chain on stderr, and the cleanup is cancelled so that the run goes on."""
        cleanup = asyncio.ensure_future(self.runner.cleanup())
        try:
            done, _ = await asyncio.wait({cleanup}, timeout=SHUTDOWN_LIMIT)
            if not done:
                print(f"\nthe in-process hub did not shut down within {SHUTDOWN_LIMIT:.0f} s; "
                      "pending tasks:", file=sys.stderr)
                dump_asyncio_tasks(sys.stderr)
                cleanup.cancel()
                await asyncio.gather(cleanup, return_exceptions=True)
                raise AssertionError(f"the in-process hub's shutdown hung for "
                                     f"{SHUTDOWN_LIMIT:.0f} s (pending tasks on stderr)")
            cleanup.result()
        finally:
            for own_dir in (self.files_dir, self.pki_dir):
                if own_dir:
                    shutil.rmtree(own_dir, ignore_errors=True)


# A hub in a test stops in well under a second. The bound is generous for a loaded machine and
# still below aiohttp's own 60 s wait for request handlers, so that a handler left running
# (a WebSocket nobody closes, a streamed response) is reported here, with its stack.
SHUTDOWN_LIMIT = 30.0


async def start_hub(database_url: str, *, ssl_context: ssl.SSLContext | None = None,
                    feature_list: list[Any] | None = None, **overrides: Any) -> RunningHub:
    """Start the hub app on 127.0.0.1 with an ephemeral port; overrides are config sections
    (``ocpp={"call_timeout": 2}``) or ``dev=True``; ``feature_list`` replaces the shipped
    features (``[]``: the core alone)."""
    sections: dict[str, Any] = {"database": {"url": database_url}}
    for key, value in overrides.items():
        sections[key] = value
    sections.setdefault("ocpp", {}).setdefault("validate_responses", True)
    # Uploaded diagnostics and firmware go to a fresh directory, never the working directory.
    files = sections.setdefault("files", {})
    own_dir = "" if "data_dir" in files else tempfile.mkdtemp(prefix="pnc-hub-files-")
    files.setdefault("data_dir", own_dir)
    # So do the dev PKI's CA keys (on PostgreSQL they would land in ./pki-keys).
    pki = sections.setdefault("pki", {})
    own_pki = "" if "key_dir" in pki else tempfile.mkdtemp(prefix="pnc-hub-pki-")
    pki.setdefault("key_dir", own_pki)
    config = load_config(env={}, overrides=sections)
    app = create_app(config, feature_list=feature_list,
                     startup=StartupOptions(upgrade_database=True))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    token = await create_token(app[HUB].sessions, "test admin")
    return RunningHub(app, runner, port, token, "wss" if ssl_context else "ws", files_dir=own_dir,
                      pki_dir=own_pki)


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Received:
    action: str
    payload: dict[str, Any] = field(default_factory=dict)




def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}




@contextlib.asynccontextmanager
async def running_charge_point(cp: Any) -> AsyncIterator[Any]:
    """``cp`` (an ``ocpp`` ChargePoint on an open WebSocket) reading and answering the hub's
    frames for as long as the block runs."""
    task = asyncio.create_task(cp.start())
    try:
        yield cp
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def wait_for(predicate: Any, timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` (sync or async) until it returns a truthy value. The default bound
    is for a loaded machine (2 cores, PostgreSQL, other suites beside): a condition met in
    milliseconds costs no more, and only a condition that never comes waits this long."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
