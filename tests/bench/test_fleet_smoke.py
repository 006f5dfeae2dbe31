"""Smoke test of bench/fleet.py: a few stations for a couple of seconds, one ladder step.

No timing assertions: only that the stations booted, lived (heartbeats answered), and that
nothing went wrong on the way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_tiny_fleet_lives_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "fleet.py"), "--stations", "6", "--seconds", "2",
         "--warmup", "0.5", "--speed", "600", "--workers", "1", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (step,) = json.loads(out.read_text())["steps"]
    assert step["held"] == 6 and step["mix"] == "mixed"
    assert step["errors"] == {} and step["boot_errors"] == {} and step["unanswered"] == 0
    assert step["by_action"].get("Heartbeat", 0) > 0
    assert step["rss_mib_per_station"] is not None
    assert "largest N" in proc.stdout
