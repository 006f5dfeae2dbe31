"""Run `pnc-hub serve` as a real child process (for crash and CLI tests)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def _die_with_parent() -> None:
    """Linux: the hub gets SIGKILL if the test process dies first (no orphaned hubs)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass


class HubProcess:
    """The hub's output goes to a file (``log_path``, else one in a temporary directory),
    never to a pipe: a busy run nobody reads from can never block on a full pipe."""

    def __init__(self, database_url: str, port: int, *extra: str,
                 env: dict[str, str] | None = None, log_path: Path | None = None,
                 log_level: str = "WARNING") -> None:
        self.database_url = database_url
        self.port = port
        self.extra = extra
        self.env = env or {}
        self.log_level = log_level
        self.log_path = log_path or Path(tempfile.mkdtemp(prefix="pnc-hub-log-")) / "hub.log"
        self.proc: subprocess.Popen[str] | None = None
        self.files_dir = tempfile.mkdtemp(prefix="pnc-hub-files-")

    async def start(self) -> None:
        with open(self.log_path, "ab") as log:  # noqa: ASYNC230 (a local file, once)
            self._spawn(log)  # the child keeps its own descriptor
        await self.wait_ready()

    def _spawn(self, output: Any) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "--log-level", self.log_level, "serve", "--host",
             "127.0.0.1", "--port", str(self.port), "--database-url", self.database_url,
             *self.extra],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, text=True,
            # Uploaded files go to a temporary directory, not the checkout.
            env={"PNC_HUB_FILES__DATA_DIR": self.files_dir, **os.environ, **self.env},
            preexec_fn=_die_with_parent)

    async def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as http:
            while asyncio.get_running_loop().time() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"hub exited:\n{self.exit_output()}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthCheck-01") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError("hub did not become ready")

    def exit_output(self) -> str:
        """What the hub printed, for the error when it exits while starting."""
        return self.log_path.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no cleanup, no flush
        self.proc.wait(10)

    def terminate(self, timeout: float = 20.0) -> str:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout)
        return self.log_path.read_text(errors="replace")

    def ws_url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{station_id}"
