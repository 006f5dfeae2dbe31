"""The serving process's collector settings (hub/gc_tuning.py)."""

from __future__ import annotations

import gc

from hub.config import load_config
from hub.gc_tuning import tune_collector


def test_tune_collector_raises_only_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_collector(20_000)
        assert gc.get_threshold() == (20_000, before[1], before[2])
        tune_collector(0)  # 0 leaves whatever is set
        assert gc.get_threshold() == (20_000, before[1], before[2])
    finally:
        gc.set_threshold(*before)


def test_threshold_is_configurable_from_the_environment(monkeypatch) -> None:
    assert load_config(None).server.gc_young_threshold == 20_000
    monkeypatch.setenv("PNC_HUB_SERVER__GC_YOUNG_THRESHOLD", "0")
    assert load_config(None).server.gc_young_threshold == 0
