"""What the hub says about itself, beside what the generator measured.

Around each measured window the bench reads the hub's own Prometheus counters (group commits,
message log), and after the run the hub's SQLite database, to compare the facts it kept with the
answers the stations were given. Both are best effort: a figure that cannot be read is left out.
"""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

from .common import Dialect
from .servers import Server


def admin_token(server: Server) -> str | None:
    """The token given by --hub-token, or the dev admin token a hub we started printed."""
    if server.token is None and not server.external:
        try:
            for line in server.log_path.read_text(errors="replace").splitlines():
                if line.startswith("Admin token (dev): "):
                    server.token = line.split(": ", 1)[1].strip()
        except OSError:
            pass
    return server.token


def hub_metrics(server: Server) -> dict[str, float] | None:
    """The hub's unlabelled Prometheus figures, or None (not the hub, no token, no route)."""
    token = admin_token(server) if server.kind == "hub" else None
    if not token:
        return None
    ws_base = server.ws_base
    http = "http" + ws_base[2:] if ws_base.startswith("ws") else ws_base
    host = http.split("://", 1)[1].split("/", 1)[0]
    scheme = http.split("://", 1)[0]
    req = urllib.request.Request(
        f"{scheme}://{host}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError, ValueError):
        return None
    figures = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if line.startswith("pnc_hub_") and "{" not in name:
            try:
                figures[name] = float(value)
            except ValueError:
                pass
    return figures


def hub_window_metrics(
    before: dict[str, float] | None, after: dict[str, float] | None
) -> dict[str, float] | None:
    """What the hub's own counters say about one measured window (best effort)."""
    if not before or not after:
        return None

    def delta(name: str) -> float | None:
        if name in before and name in after:
            return after[name] - before[name]
        return None

    out: dict[str, float] = {}
    batches = delta("pnc_hub_group_commit_batches_total")
    units = delta("pnc_hub_group_commit_units_total")
    seconds = delta("pnc_hub_group_commit_seconds_total")
    if batches:
        out["group_commits"] = batches
        if units is not None:
            out["units_per_commit"] = units / batches
        if seconds is not None:
            out["commit_ms"] = 1000 * seconds / batches
    for key, name in (
        ("log_written", "pnc_hub_message_log_written_total"),
        ("log_dropped", "pnc_hub_message_log_dropped_total"),
        ("commit_failures", "pnc_hub_group_commit_failures_total"),
    ):
        value = delta(name)
        if value is not None:
            out[key] = value
    return out


def hub_database_facts(path: Path) -> dict[str, int] | None:
    """Row counts in the hub's SQLite database after it stopped (a durability cross-check).

    Best effort: the table names are the hub's; a missing table is left out.
    """
    if not path.exists():
        return None
    facts = {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        for table in ("transactions", "meter_values", "ocpp_messages"):
            try:
                facts[table] = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            except sqlite3.Error:
                pass
    finally:
        db.close()
    return facts


def metrics_note(kind: str, phase: str, hm: dict[str, float], seconds: float) -> str:
    """One line on the hub's counters in a measured window."""
    per = hm.get("units_per_commit")
    ms = hm.get("commit_ms")
    return (
        f"{kind} {phase}: hub counters in the window: "
        f"{hm.get('group_commits', 0) / seconds:,.0f} group commits/s"
        + (f" of {per:.1f} units, {ms:.1f} ms each" if per and ms else "")
        + f"; message log {hm.get('log_written', 0):,.0f} rows written, "
        f"{hm.get('log_dropped', 0):,.0f} dropped"
        + (f"; {hm['commit_failures']:.0f} failed units" if hm.get("commit_failures") else "")
    )


def database_notes(
    kind: str, db: dict[str, int], got: dict[str, int], dialect: Dialect
) -> list[str]:
    """The hub's database against the CALLRESULTs the stations got: kept at least as much?"""
    frames = 2 * sum(n for action, n in got.items() if action != "Heartbeat")
    started = got.get(dialect.started, 0)
    samples = sum(got.get(label, 0) * n for label, n in dialect.samples.items())
    notes = [
        f"{kind}: its database after the run holds {db.get('transactions', '?')} "
        f"transactions ({started} {dialect.started} answered), "
        f"{db.get('meter_values', '?')} meter value rows "
        f"({samples} sampled values answered), "
        f"{db.get('ocpp_messages', '?')} OCPP log rows ({frames} frames exchanged "
        f"outside Heartbeat)"
    ]
    if db.get("transactions", 0) < started or db.get("meter_values", 0) < samples:
        notes.append(f"{kind}: LOST DATA: fewer facts in the database than were answered")
    return notes
