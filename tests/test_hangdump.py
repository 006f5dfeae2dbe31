"""The test run's own safety net: a hung test fails (with where it waits) instead of stalling
the run, and ``kill -USR1`` prints where a run waits although pytest captures the output."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

from tests.hangdump import dump_asyncio_tasks

ROOT = Path(__file__).resolve().parent.parent


def run_pytest(tmp_path: Path, tests: str, limit: float = 2.0) -> subprocess.CompletedProcess:
    """``tests`` run by a child pytest with this suite's hooks and the given hang limit."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import (pytest_configure, pytest_runtest_call,  # noqa: F401\n"
        "                            pytest_runtest_setup, pytest_runtest_teardown)\n")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    (tmp_path / "test_child.py").write_text(textwrap.dedent(tests))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PNC_HUB_TEST_HANG_LIMIT": str(limit)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_child.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_a_hung_test_and_a_hung_teardown_fail_and_the_run_goes_on(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, """
        import asyncio
        import pytest

        async def test_waits_forever():
            await asyncio.Event().wait()

        @pytest.fixture
        async def stuck_cleanup():
            yield
            await asyncio.Event().wait()

        async def test_with_a_stuck_cleanup(stuck_cleanup):
            pass

        def test_after_them():
            pass
    """)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "1 failed, 2 passed, 1 error" in out, out
    assert "test_waits_forever ran past 2 s" in out
    assert "teardown of test_child.py::test_with_a_stuck_cleanup ran past 2 s" in out
    # Where each waited: the await chain of the test's task, not only its first frame.
    assert "await asyncio.Event().wait()" in result.stderr


def test_sigusr1_prints_pending_tasks_past_the_output_capture(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, """
        import asyncio
        import os
        import signal

        async def sleeper_in_the_background():
            await asyncio.sleep(3600)

        async def test_asks_for_a_dump():
            task = asyncio.create_task(sleeper_in_the_background())
            await asyncio.sleep(0)
            os.kill(os.getpid(), signal.SIGUSR1)
            task.cancel()
    """)
    assert result.returncode == 0, result.stdout + result.stderr
    # The test passed, so pytest shows nothing it captured: the dump went to the terminal.
    assert "SIGUSR1: where the run waits" in result.stderr
    assert "sleeper_in_the_background" in result.stderr


async def test_the_dump_survives_dead_weak_proxies() -> None:
    """gc.get_objects() also returns weak proxies whose object is gone; isinstance() on one
    raises ReferenceError, which used to crash the dump of a hung shutdown."""

    class Gone:
        pass

    obj = Gone()
    dead = [weakref.proxy(obj)]
    del obj
    out = io.StringIO()
    dump_asyncio_tasks(out)
    assert dead and "test_the_dump_survives_dead_weak_proxies" in out.getvalue()
