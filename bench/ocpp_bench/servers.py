"""The servers under test, each its own subprocess, and where they and the generator run.

  hub   ``python3 -m hub serve --dev`` on a fresh SQLite database (or a running hub, by URL)
  ocpp  bench/baseline_ocpp_server.py (1.6) or bench/baseline_ocpp201_server.py (2.0.1): the
        ``ocpp`` package's canonical central system
  raw   bench/baseline_raw_server.py: aiohttp WebSocket answering canned JSON (both versions)

By default every server is pinned to CPU 0 and the generator (and this process) to the others,
so that neither steals the other's core.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .common import BENCH_DIR, ID_TAG, REPO_ROOT
from .versions import DEFAULT_VERSION

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in the test extra
    psutil = None

SERVER_CPU = 0
BASELINE_SCRIPTS = {
    ("ocpp", "1.6"): "baseline_ocpp_server.py",
    ("ocpp", "2.0.1"): "baseline_ocpp201_server.py",
    ("raw", "1.6"): "baseline_raw_server.py",
    ("raw", "2.0.1"): "baseline_raw_server.py",
}


def generator_cpus() -> list[int]:
    """Every CPU but the servers' one."""
    return sorted(set(range(os.cpu_count() or 1)) - {SERVER_CPU})


def pin_this_process() -> bool:
    """Move this process (the orchestrator) off the servers' CPU; False when it cannot."""
    try:
        os.sched_setaffinity(0, generator_cpus())
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(Exception):
    pass


class Server:
    """A server under test: a subprocess we start, or a running hub given by URL."""

    def __init__(
        self,
        kind: str,
        workdir: Path,
        cpu: int | None,
        hub_url: str | None,
        token: str | None = None,
        ocpp_version: str = DEFAULT_VERSION,
    ) -> None:
        self.token = token
        self.ocpp_version = ocpp_version
        self.kind = kind
        self.workdir = workdir
        self.cpu = cpu
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / f"{kind}.log"
        self.external = kind == "hub" and hub_url is not None
        self.port = 0 if self.external else free_port()
        if self.external:
            self.ws_base = hub_url.rstrip("/")
        else:
            self.ws_base = f"ws://127.0.0.1:{self.port}/ocpp"

    def command(self) -> list[str]:
        if self.kind == "hub":
            return [
                sys.executable, "-m", "hub", "serve", "--dev",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--database-url", self.database_url(),
            ]  # fmt: skip
        script = BASELINE_SCRIPTS[self.kind, self.ocpp_version]
        return [sys.executable, str(BENCH_DIR / script), "--port", str(self.port)]

    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.database_path()}"

    def database_path(self) -> Path:
        return self.workdir / "bench.db"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        # Bench stations send back to back, far above the hub's per-station message-rate limit
        # (ocpp.rate_limit, a protection against a runaway charger): measure without it.
        env.setdefault("PNC_HUB_OCPP__RATE_LIMIT", "0")
        return env

    def prepare_hub(self) -> str | None:
        """Register the bench's id tag so that Authorize/StartTransaction take the Accepted path.

        Returns a note when that was not possible (the bench then runs with whatever the hub
        answers for an unknown tag, and reports the statuses it got).
        """
        cmd = [sys.executable, "-m", "hub", "idtag", "add", ID_TAG]
        cmd += ["--database-url", self.database_url()]
        try:
            done = subprocess.run(
                cmd,
                cwd=str(self.workdir),
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"could not register id tag {ID_TAG}: {exc!r}"
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            return f"could not register id tag {ID_TAG}: exit {done.returncode}: {tail}"
        return None

    def start(self, timeout: float = 60.0) -> None:
        if self.external:
            return
        if self.kind == "hub" and not (REPO_ROOT / "hub" / "cli.py").exists():
            raise ServerError("hub/cli.py not found: the hub has not landed in this tree")
        env = self._env()
        cpu = self.cpu

        def pin() -> None:  # in the child before exec, so that every thread inherits it
            if cpu is not None:
                try:
                    os.sched_setaffinity(0, {cpu})
                except OSError:
                    pass

        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=str(self.workdir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pin,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._ready():
                return
            time.sleep(0.1)
        raise ServerError(f"not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        if self.kind == "hub":
            try:
                url = f"http://127.0.0.1:{self.port}/healthCheck-01"
                with urllib.request.urlopen(url, timeout=1) as resp:
                    return resp.status == 200
            except (urllib.error.URLError, OSError):
                return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def cpu_seconds(self) -> float | None:
        return process_cpu_seconds(None if self.proc is None else self.proc.pid)

    def rss_mib(self) -> float | None:
        if self.proc is None or psutil is None:
            return None
        try:
            return psutil.Process(self.proc.pid).memory_info().rss / 2**20
        except psutil.Error:
            return None

    def alive(self) -> bool:
        return self.external or (self.proc is not None and self.proc.poll() is None)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join("    | " + line for line in text.splitlines()[-lines:])


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far (None without psutil or process)."""
    if psutil is None or pid is None:
        return None
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system
