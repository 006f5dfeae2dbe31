"""CPU accounting, the figures of one measured window, and the printed table with its ratios."""

from __future__ import annotations

import argparse
import os
from array import array
from typing import Any

from .common import MAX_ERROR_EXAMPLES, SERVER_TITLES
from .generator import Workers
from .hub_checks import database_notes, metrics_note
from .servers import Server, process_cpu_seconds
from .versions import DIALECTS

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in the test extra
    psutil = None


# -- aggregation -------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))]


def merge_errors(target: dict[str, Any], errors: dict[str, Any]) -> None:
    counts = target.setdefault("counts", {})
    for kind, n in errors["counts"].items():
        counts[kind] = counts.get(kind, 0) + n
    examples = target.setdefault("examples", [])
    examples.extend(errors["examples"][: max(0, MAX_ERROR_EXAMPLES - len(examples))])


def add_counts(target: dict[str, int], more: dict[str, int]) -> None:
    for k, n in more.items():
        target[k] = target.get(k, 0) + n


# -- CPU accounting ----------------------------------------------------------------------------


def cpu_snapshot(server: Server, workers: Workers) -> dict[str, float | None]:
    """CPU seconds used so far by the server, the generator, this process and the machine."""
    gen = [process_cpu_seconds(p.pid) for p in workers.procs]
    machine = None
    if psutil is not None:
        t = psutil.cpu_times()
        # Process time only: interrupt time (loopback traffic is softirq work) is left out, as
        # it is not in any process's times either.
        machine = t.user + t.nice + t.system
    return {
        "server": server.cpu_seconds(),
        "generator": None if None in gen else sum(gen),
        "parent": process_cpu_seconds(os.getpid()),
        "machine": machine,
    }


def cpu_rates(
    cpu0: dict[str, float | None],
    cpu1: dict[str, float | None],
    seconds: float,
    reports: list[dict[str, Any]],
) -> dict[str, float | None]:
    """CPUs used in the window (1.0 = one core) by each party, and by everything else."""
    cpu: dict[str, float | None] = {}
    for k in cpu0:
        a, b = cpu0[k], cpu1[k]
        cpu[k] = None if a is None or b is None else (b - a) / seconds
    if cpu["generator"] is None:  # no psutil: the workers' own count, whole phase
        cpu["generator"] = sum(r["cpu_seconds"] for r in reports) / max(
            1e-9, max(r["wall_seconds"] for r in reports)
        )
    if None not in (cpu["machine"], cpu["server"], cpu["generator"], cpu["parent"]):
        # CPU that neither this server, its generator nor this process used: other
        # programs on the machine, which disturb the figures.
        cpu["other"] = max(0.0, cpu["machine"] - cpu["server"] - cpu["generator"] - cpu["parent"])
    else:
        cpu["other"] = None
    return cpu


def window_figures(
    phase: str,
    round_no: int,
    seconds: float,
    reports: list[dict[str, Any]],
    cpu: dict[str, float | None],
) -> dict[str, Any]:
    """One measured window, from every worker's report: throughput, latency, errors, CPU."""
    lat: list[float] = []
    for r in reports:
        a = array("d")
        a.frombytes(r["latencies"])
        lat.extend(a)
    lat.sort()
    perr: dict[str, Any] = {}
    by_action: dict[str, int] = {}
    id_tags: dict[str, int] = {}
    for r in reports:
        merge_errors(perr, r["errors"])
        add_counts(by_action, r["by_action"])
        add_counts(id_tags, r["id_tag_status"])
    count = sum(r["count"] for r in reports)
    return {
        "phase": phase,
        "round": round_no,
        "messages": count,
        "per_second": count / seconds,
        "p50_ms": None if not lat else percentile(lat, 0.50) * 1000,
        "p99_ms": None if not lat else percentile(lat, 0.99) * 1000,
        "max_ms": None if not lat else lat[-1] * 1000,
        "by_action": by_action,
        "id_tag_status": id_tags,
        "transactions": sum(r["transactions"] for r in reports),
        "errors": perr,
        "stations_alive": sum(r["alive"] for r in reports),
        "server_cpu": cpu["server"],
        "generator_cpu": cpu["generator"],
        "other_cpu": cpu["other"],
    }


# -- the printed report ------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _server_notes(res: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """What to know about one server's figures: failures, lost stations, disturbances, data."""
    notes: list[str] = []
    kind = res["server"]
    tx = res["phases"].get("txmix", {})
    if res.get("failed"):
        notes.append(f"{kind}: FAILED: {res['failed']}")
    if res.get("note"):
        notes.append(f"{kind}: {res['note']}")
    if res.get("connected") is not None and res["connected"] < args.stations:
        notes.append(f"{kind}: only {res['connected']}/{args.stations} stations booted")
    for phase, ph in res["phases"].items():
        gen = ph.get("generator_cpu") or 0.0
        srv = ph.get("server_cpu") or 0.0
        cpus = os.cpu_count() or 1
        if args.pin:  # the generator has every CPU but the server's
            bound = gen >= 0.9 * min(args.workers, max(1, cpus - 1))
        else:  # the machine is saturated and the generator holds a big share of it
            bound = gen + srv >= 0.9 * cpus and gen >= 0.5 * cpus
        hm = ph.get("hub_metrics")
        if hm:
            notes.append(metrics_note(kind, phase, hm, args.seconds))
        other = ph.get("other_cpu") or 0.0
        if other >= 0.1:
            notes.append(
                f"{kind} {phase}: other programs used {other * 100:.0f}% of a CPU during "
                f"the window: the figures are disturbed, run again on a quiet machine"
            )
        if bound:
            notes.append(
                f"{kind} {phase}: generator CPU {gen * 100:.0f}%: figure may be "
                f"generator-bound (a lower bound for the server)"
            )
        if ph["stations_alive"] < res.get("connected", 0):
            notes.append(
                f"{kind} {phase}: {res['connected'] - ph['stations_alive']} station(s) lost"
            )
    if tx.get("id_tag_status") and set(tx["id_tag_status"]) != {"Accepted"}:
        notes.append(f"{kind}: Authorize answered {tx['id_tag_status']}")
    if res.get("server_calls"):
        notes.append(
            f"{kind}: server-initiated calls answered NotImplemented: {res['server_calls']}"
        )
    if res.get("database"):
        dialect = DIALECTS[args.ocpp_version]
        notes.extend(database_notes(kind, res["database"], res.get("answered", {}), dialect))
    for kind_, n in sorted(res["errors"].get("counts", {}).items()):
        notes.append(f"{kind}: error {kind_} x {n}")
    for example in res["errors"].get("examples", []):
        notes.append(f"{kind}:   e.g. {example}")
    return notes


def _efficiency(res: dict[str, Any], phase: str) -> float | None:
    """Messages per CPU-second of the server: what it gets out of the CPU it was given, far less
    sensitive than raw throughput to other programs competing for the machine."""
    ph = res["phases"].get(phase, {})
    cpu = ph.get("server_cpu")
    return None if not cpu or cpu < 0.05 else ph["per_second"] / cpu


def _round_efficiency(res: dict[str, Any], phase: str) -> dict[int, float]:
    """Messages per server CPU-second of each round of a phase, by round number."""
    out: dict[int, float] = {}
    for ph in res["rounds"]:
        cpu = ph.get("server_cpu")
        if ph["phase"] == phase and cpu and cpu >= 0.05:
            out[ph["round"]] = ph["per_second"] / cpu
    return out


def round_ratios(hub: dict[str, Any], base: dict[str, Any], phase: str) -> list[float]:
    """Hub / baseline per CPU-second, round by round (windows of one round ran back to back,
    so each ratio compares the two servers under the same disturbance)."""
    a, b = _round_efficiency(hub, phase), _round_efficiency(base, phase)
    return [a[n] / b[n] for n in sorted(set(a) & set(b)) if b[n]]


def median(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _print_round_ratios(hub: dict[str, Any] | None, base: dict[str, Any] | None,
                        args: argparse.Namespace) -> None:
    """Each round's ratio and their median: on a shared machine one window is one noisy
    sample, the median of alternating rounds is the figure to quote."""
    if hub is None or base is None or args.rounds < 2:
        return
    print()
    print(f"hub / {SERVER_TITLES[base['server']]} per server CPU-second, round by round:")
    for phase in args.phases:
        ratios = round_ratios(hub, base, phase)
        if ratios:
            cells = " ".join(f"{r:.2f}x" for r in ratios)
            print(f"  {phase:<10} {cells}   median {median(ratios):.2f}x")


def print_report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    pin = "server pinned to CPU 0, generator to the others" if args.pin else "no CPU pinning"
    title = DIALECTS[args.ocpp_version].title
    print()
    print(
        f"{title} load: {args.stations} stations, {args.seconds:g} s per phase "
        f"(+{args.warmup:g} s warm-up), "
        + (f"best of {args.rounds} interleaved rounds, " if args.rounds > 1 else "")
        + f"{args.workers} generator process(es) per server, {pin}, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'server':<26}{'heartbeat rt/s':>15}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'tx-mix msg/s':>14}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}"
        f"{'srv cpu hb/tx':>15}{'gen cpu hb/tx':>15}{'other cpu':>11}"
    )
    print(header)
    print("-" * len(header))
    notes: list[str] = []
    for res in results:
        hb = res["phases"].get("heartbeat", {})
        tx = res["phases"].get("txmix", {})
        n_err = sum(res["errors"].get("counts", {}).values())
        print(
            f"{SERVER_TITLES[res['server']]:<26}"
            f"{fmt(hb.get('per_second'), ',.0f'):>15}"
            f"{fmt(hb.get('p50_ms'), '.2f'):>8}{fmt(hb.get('p99_ms'), '.2f'):>8}"
            f"{fmt(tx.get('per_second'), ',.0f'):>14}"
            f"{fmt(tx.get('p50_ms'), '.2f'):>8}{fmt(tx.get('p99_ms'), '.2f'):>8}"
            f"{n_err:>8}"
            f"{pct(hb.get('server_cpu')) + '/' + pct(tx.get('server_cpu')):>15}"
            f"{pct(hb.get('generator_cpu')) + '/' + pct(tx.get('generator_cpu')):>15}"
            f"{pct(hb.get('other_cpu')) + '/' + pct(tx.get('other_cpu')):>11}"
        )
        notes.extend(_server_notes(res, args))

    by_kind = {r["server"]: r for r in results}
    hub = by_kind.get("hub")
    for base in ("ocpp", "raw"):
        other = by_kind.get(base)
        if hub is None or other is None:
            continue
        parts = []
        for phase, label in (("heartbeat", "heartbeat rt/s"), ("txmix", "tx-mix msg/s")):
            a = hub["phases"].get(phase, {}).get("per_second")
            b = other["phases"].get(phase, {}).get("per_second")
            if a is not None and b:
                parts.append(f"{label} {a / b:.2f}x")
        if parts:
            print(f"{'hub / ' + SERVER_TITLES[base]:<34}" + "   ".join(parts))

    if any(_efficiency(r, p) for r in results for p in args.phases):
        print()
        print("messages per server CPU-second (robust to other load on the machine):")
        print(f"{'server':<34}{'heartbeat':>10}{'tx-mix':>10}")
        for res in results:
            print(
                f"{SERVER_TITLES[res['server']]:<34}"
                f"{fmt(_efficiency(res, 'heartbeat'), ',.0f'):>10}"
                f"{fmt(_efficiency(res, 'txmix'), ',.0f'):>10}"
            )
        for base in ("ocpp", "raw"):
            other = by_kind.get(base)
            if hub is None or other is None:
                continue
            cells = []
            for phase in ("heartbeat", "txmix"):
                a, b = _efficiency(hub, phase), _efficiency(other, phase)
                cells.append("-" if a is None or not b else f"{a / b:.2f}x")
            print(f"{'hub / ' + SERVER_TITLES[base]:<34}{cells[0]:>10}{cells[1]:>10}")
    _print_round_ratios(hub, by_kind.get("ocpp"), args)
    if notes:
        print()
        for note in notes:
            print(note)
    print()
