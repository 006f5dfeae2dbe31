"""The hub as a real child process whose log goes to a file (so that a long fault run can never
block on a full pipe, and the log can be searched afterwards)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.harness.process import HubProcess, cli

# What a log line of an unhandled error looks like (Python tracebacks, aiohttp's and asyncio's
# own reports, and the session's "<station>: <action> failed" for an exception in a handler).
UNHANDLED_MARKERS = ("Traceback", "Error handling request", "exception was never retrieved",
                     "Unhandled exception", "Task was destroyed")


class LoggedHubProcess(HubProcess):
    """A hub whose log is searched afterwards, and whose shutdown is awaited and diagnosed."""

    def __init__(self, database_url: str, port: int, log_path: Path, *extra: str,
                 env: dict[str, str] | None = None, log_level: str = "WARNING") -> None:
        super().__init__(database_url, port, *extra, env=env, log_path=log_path,
                         log_level=log_level)

    def terminate(self, timeout: float = 75.0) -> str:
        """SIGTERM and wait for the graceful shutdown (aiohttp gives handlers 60 s); a hub that
        does not exit by then is killed and the test fails with its log tail."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                stacks = ""
                if shutil.which("py-spy"):  # a diagnosis aid where it is installed
                    stacks = subprocess.run(["py-spy", "dump", "--pid", str(self.proc.pid)],
                                            capture_output=True, text=True).stdout
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"the hub did not shut down within {timeout:g} s of "
                                     f"SIGTERM; log tail:\n{self.log()[-4000:]}\n{stacks}"
                                     ) from None
        return self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def unhandled_errors(self) -> list[str]:
        return [line for line in self.log().splitlines()
                if any(marker in line for marker in UNHANDLED_MARKERS)]


def upgrade_schema(database_url: str) -> None:
    """A PostgreSQL hub does not migrate by itself at start-up (SQLite does)."""
    if not database_url.startswith("sqlite"):
        done = cli("db", "upgrade", "--database-url", database_url)
        assert done.returncode == 0, done.stdout + done.stderr
