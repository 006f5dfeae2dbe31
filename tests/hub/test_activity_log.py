"""The activity log's storm protection: a token bucket, and a count of what it dropped."""

from __future__ import annotations

import logging

import pytest

from hub.logs import ActivityLog


def test_a_storm_is_summarised_not_logged_line_by_line(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pnc_hub.activity")
    # No refill: only the burst passes, however long the test takes.
    activity = ActivityLog(rate=0.0, burst=3)
    for n in range(1000):
        activity.info("station CP-%d connected", n)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["station CP-0 connected", "station CP-1 connected",
                     "station CP-2 connected"]
    assert activity.suppressed == 997
    # Once the bucket has a token again, the next line says how many were dropped.
    activity.rate = 1e9
    activity.info("station CP-X booted: Accepted")
    assert [r.getMessage() for r in caplog.records][3:] == [
        "997 more station activity lines suppressed", "station CP-X booted: Accepted"]
    assert activity.suppressed == 0


def test_nothing_is_counted_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pnc_hub.activity")
    activity = ActivityLog(rate=0.0, burst=1)
    for _ in range(10):
        activity.info("station connected")
    assert activity.suppressed == 0 and not caplog.records
