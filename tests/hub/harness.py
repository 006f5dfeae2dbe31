"""Test harness: a real hub on a real port, and real `ocpp` 1.6 charge points talking to it."""

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

import websockets
from aiohttp import web
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

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


class TestStation(ChargePoint):
    """A charge point that answers the hub's commands with configurable statuses."""

    __test__ = False

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.received: list[Received] = []
        # action -> response payload dataclass (or a callable returning one)
        self.answers: dict[str, Any] = {}
        self.delay: float = 0.0

    def _answer(self, action: str, default: Any, **payload: Any) -> Any:
        self.received.append(Received(action, payload))
        answer = self.answers.get(action, default)
        return answer(**payload) if callable(answer) else answer

    async def _maybe_delay(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)

    @on(Action.reset)
    async def on_reset(self, **kw: Any) -> Any:
        await self._maybe_delay()
        return self._answer("Reset", call_result.Reset(status="Accepted"), **kw)

    @on(Action.get_configuration)
    def on_get_configuration(self, **kw: Any) -> Any:
        return self._answer("GetConfiguration", call_result.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                               {"key": "NumberOfConnectors", "readonly": True, "value": "2"}],
            unknown_key=kw.get("key") and [k for k in kw["key"] if k.startswith("Unknown")]
            or None), **kw)

    @on(Action.change_configuration)
    def on_change_configuration(self, **kw: Any) -> Any:
        return self._answer("ChangeConfiguration",
                            call_result.ChangeConfiguration(status="Accepted"), **kw)

    @on(Action.change_availability)
    def on_change_availability(self, **kw: Any) -> Any:
        return self._answer("ChangeAvailability",
                            call_result.ChangeAvailability(status="Accepted"), **kw)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kw: Any) -> Any:
        return self._answer("ClearCache", call_result.ClearCache(status="Accepted"), **kw)

    @on(Action.remote_start_transaction)
    def on_remote_start(self, **kw: Any) -> Any:
        return self._answer("RemoteStartTransaction",
                            call_result.RemoteStartTransaction(status="Accepted"), **kw)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, **kw: Any) -> Any:
        return self._answer("RemoteStopTransaction",
                            call_result.RemoteStopTransaction(status="Accepted"), **kw)

    @on(Action.unlock_connector)
    def on_unlock(self, **kw: Any) -> Any:
        return self._answer("UnlockConnector", call_result.UnlockConnector(status="Unlocked"),
                            **kw)

    @on(Action.data_transfer)
    def on_data_transfer(self, **kw: Any) -> Any:
        return self._answer("DataTransfer", call_result.DataTransfer(status="Accepted",
                                                                     data="pong"), **kw)

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, **kw: Any) -> Any:
        return self._answer("GetDiagnostics", call_result.GetDiagnostics(file_name="diag.zip"),
                            **kw)

    @on(Action.update_firmware)
    def on_update_firmware(self, **kw: Any) -> Any:
        return self._answer("UpdateFirmware", call_result.UpdateFirmware(), **kw)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kw: Any) -> Any:
        return self._answer("GetLocalListVersion",
                            call_result.GetLocalListVersion(list_version=7), **kw)

    @on(Action.send_local_list)
    def on_send_local_list(self, **kw: Any) -> Any:
        return self._answer("SendLocalList", call_result.SendLocalList(status="Accepted"), **kw)

    @on(Action.reserve_now)
    def on_reserve_now(self, **kw: Any) -> Any:
        return self._answer("ReserveNow", call_result.ReserveNow(status="Accepted"), **kw)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, **kw: Any) -> Any:
        return self._answer("CancelReservation",
                            call_result.CancelReservation(status="Accepted"), **kw)

    @on(Action.trigger_message)
    def on_trigger_message(self, **kw: Any) -> Any:
        return self._answer("TriggerMessage", call_result.TriggerMessage(status="Accepted"),
                            **kw)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, **kw: Any) -> Any:
        return self._answer("SetChargingProfile",
                            call_result.SetChargingProfile(status="Accepted"), **kw)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kw: Any) -> Any:
        return self._answer("ClearChargingProfile",
                            call_result.ClearChargingProfile(status="Accepted"), **kw)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, **kw: Any) -> Any:
        return self._answer("GetCompositeSchedule",
                            call_result.GetCompositeSchedule(status="Rejected"), **kw)

    @on(Action.certificate_signed)
    def on_certificate_signed(self, **kw: Any) -> Any:
        return self._answer("CertificateSigned",
                            call_result.CertificateSigned(status="Accepted"), **kw)

    @on(Action.install_certificate)
    def on_install_certificate(self, **kw: Any) -> Any:
        return self._answer("InstallCertificate",
                            call_result.InstallCertificate(status="Accepted"), **kw)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, **kw: Any) -> Any:
        return self._answer("GetInstalledCertificateIds",
                            call_result.GetInstalledCertificateIds(status="NotFound"), **kw)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, **kw: Any) -> Any:
        return self._answer("DeleteCertificate",
                            call_result.DeleteCertificate(status="NotFound"), **kw)

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, **kw: Any) -> Any:
        return self._answer("ExtendedTriggerMessage",
                            call_result.ExtendedTriggerMessage(status="Accepted"), **kw)

    @on(Action.get_log)
    def on_get_log(self, **kw: Any) -> Any:
        return self._answer("GetLog", call_result.GetLog(status="Accepted",
                                                         filename="log.txt"), **kw)

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, **kw: Any) -> Any:
        return self._answer("SignedUpdateFirmware",
                            call_result.SignedUpdateFirmware(status="Accepted"), **kw)

    # -- convenience for charger-initiated messages ---------------------------------------

    async def boot(self, vendor: str = "ACME", model: str = "Wallbox 2") -> Any:
        return await self.call(call.BootNotification(
            charge_point_vendor=vendor, charge_point_model=model,
            charge_point_serial_number="SN-1", firmware_version="1.2.3"), suppress=False)


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def connect_station(running: RunningHub, station_id: str, *,
                          password: str | None = None, subprotocol: str = "ocpp1.6",
                          ssl_context: ssl.SSLContext | None = None,
                          bare: bool = False) -> AsyncIterator[TestStation]:
    headers = basic_auth(station_id, password) if password else None
    async with websockets.connect(
        running.ws_url(station_id, bare=bare), subprotocols=[subprotocol],
        additional_headers=headers, ssl=ssl_context, open_timeout=10,
    ) as ws:
        async with running_charge_point(TestStation(station_id, ws)) as station:
            yield station


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
