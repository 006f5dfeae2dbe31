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


def test_serve_applies_them(monkeypatch, tmp_path) -> None:
    """`pnc-hub serve` raises the threshold and freezes the heap once the app has started."""
    from hub import cli, serve
    from hub.gc_tuning import freeze_startup_heap
    from tests.harness.process import free_port

    seen: dict[str, object] = {}

    def fake_serve(app, sock, **_kw) -> int:  # instead of serving forever
        sock.close()
        seen["threshold"] = gc.get_threshold()[0]
        seen["on_startup"] = list(app.on_startup)
        return 0

    before = gc.get_threshold()
    monkeypatch.setattr(serve, "serve", fake_serve)
    try:
        assert cli.main(["serve", "--host", "127.0.0.1", "--port", str(free_port()),
                         "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"]) == 0
    finally:
        gc.set_threshold(*before)
    assert seen["threshold"] == 20_000
    assert seen["on_startup"][-1] is freeze_startup_heap
