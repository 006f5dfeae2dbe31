"""Load planner speed: one re-plan of a 20-connector site, and 1,000 such sites.

    python3 bench/bench_planner.py [--sites 1000] [--repeat 2000]

Each site (tight: 63 A main, 25/32/32 A subs; roomy: 250 A, 73/80/80 A): a main fuse, three
sub-distributions, a PV producer and a heat
pump consumer meter, 20 connectors (14 three-phase, 6 single-phase spread over L1..L3, two
priorities, mixed charging_capability), 15 of them in a session with random demand, one station
offline (planned at its maximum). The tree is compiled once (a tree edit); an event re-plans
with the compiled tree. Targets: well under 1 ms per site, under 1 s for 1,000 sites. Also the
cost of reading one MeterValues into per-phase currents (what every MeterValues costs the load
manager before a rate-limited re-plan).

Baseline in the same run: the naive planner one would write first (every session starts at its
minimum, then all are raised one level at a time round-robin while everything fits), with the
same compiled tree and the same admission.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sites_api.load.measurements import connector_current  # noqa: E402
from sites_api.load.model import DEFAULT_LEVELS, Connector, Meter, Node, Tree, compile_tree  # noqa: E402
from sites_api.load.planner import Session, _Allocation, _target, plan_site_limits  # noqa: E402

LEVEL_SETS = [DEFAULT_LEVELS, (6.0, 10.0, 16.0, 20.0, 32.0), (6.0, 8.0, 10.0, 13.0, 16.0)]


def make_site(rng: random.Random, main: float = 63.0, sub: float = 32.0):
    nodes = (Node("main", None, main),
             Node("pv", "main", meter=Meter(is_producer=True, max_possible_current=40)),
             Node("heat", "main", meter=Meter(is_consumer=True, max_possible_current=20,
                                              fallback_value=20)),
             Node("sub-a", "main", sub - 7), Node("sub-b", "main", sub), Node("sub-c", "main", sub))
    connectors = []
    for i in range(20):
        phases = (1, 2, 3) if i < 14 else ((i % 3) + 1,)
        connectors.append(Connector(f"cs{i}/1", ("sub-a", "sub-b", "sub-c")[i % 3], phases,
                                    priority=1 if i % 5 == 0 else 0,
                                    levels=LEVEL_SETS[i % len(LEVEL_SETS)]))
    tree = Tree(nodes, tuple(connectors))
    active = rng.sample(range(20), 15)
    sessions = {f"cs{i}/1": Session(rng.random(), rng.choice([None, None, 10.0, 16.0]))
                for i in active}
    readings = {"pv": rng.uniform(0, 30), "heat": (rng.uniform(0, 16),) * 3}
    idle = [i for i in range(20) if i not in active]
    return tree, sessions, readings, [f"cs{idle[0]}/1"]


def naive_plan(compiled, sessions, readings, fixed):
    """Minimum first, then one level per session per round until nothing fits."""
    state = _Allocation(compiled)
    state.add_meters(readings)
    for key in fixed:
        state.hold(key, compiled.connectors[key].maximum)
    admitted = []
    for key in sorted(sessions, key=lambda k: (-compiled.connectors[k].priority,
                                               sessions[k].started)):
        connector = compiled.connectors[key]
        if not state.blocking(key, connector.minimum):
            state.hold(key, connector.minimum)
            admitted.append(key)
    moving = True
    while moving:
        moving = False
        for key in admitted:
            levels = compiled.connectors[key].levels
            amps = state.alloc[key]
            if amps >= _target(levels, sessions[key].demand):
                continue
            step = levels[levels.index(amps) + 1] - amps
            if not state.blocking(key, step):
                state.shift(key, step)
                moving = True
    return state.alloc


def per_call(fn, args, repeat: int) -> float:
    best = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn(*args)
        best.append((time.perf_counter() - t0) / repeat)
    return min(best)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}")
    print("== tight site: 63 A main, 25/32/32 A subs (minimums alone exceed it: a queue forms)")
    run(args, main=63.0, sub=32.0)
    print("== roomy site: 250 A main, 73/80/80 A subs (everyone charges, many levels to climb)")
    run(args, main=250.0, sub=80.0)


def run(args: argparse.Namespace, main: float, sub: float) -> None:
    rng = random.Random(17)
    sites = [make_site(rng, main, sub) for _ in range(args.sites)]
    t0 = time.perf_counter()
    compiled = [(compile_tree(tree), s, r, f) for tree, s, r, f in sites]
    compile_s = time.perf_counter() - t0
    one = compiled[0]
    planner = per_call(plan_site_limits, one, args.repeat)
    naive = per_call(naive_plan, one, max(args.repeat // 4, 1))
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for site in compiled:
            plan_site_limits(*site)
        rounds.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for site in compiled:
        naive_plan(*site)
    naive_all = time.perf_counter() - t0
    print(f"compile_tree (a tree edit), 20 connectors: {compile_s / len(sites) * 1e6:8.1f} us")
    print(f"re-plan one 20-connector site:            {planner * 1e6:8.1f} us  (target << 1000)")
    print(f"  naive round-robin baseline:             {naive * 1e6:8.1f} us")
    print(f"re-plan {len(sites)} sites: best {min(rounds) * 1e3:.1f} ms, "
          f"median {statistics.median(rounds) * 1e3:.1f} ms  (target < 1000)")
    print(f"  naive round-robin baseline:             {naive_all * 1e3:.1f} ms")
    samples = METER_VALUES
    reading = per_call(connector_current, (samples, (1, 2, 3)), args.repeat)
    baseline = per_call(lambda s: [x for x in s if x["measurand"] == "Current.Import"],
                        (samples,), args.repeat)
    print(f"one MeterValues -> current per phase:     {reading * 1e6:8.1f} us  "
          f"(a filter over its samples alone: {baseline * 1e6:.1f} us)")


#: A 3-phase charger's MeterValues: current and voltage per phase, power, energy register.
METER_VALUES = tuple(
    [{"measurand": "Current.Import", "value": "15.9", "phase": p, "unit": "A",
      "location": "Outlet"} for p in ("L1", "L2", "L3")]
    + [{"measurand": "Voltage", "value": "231", "phase": f"{p}-N", "unit": "V"}
       for p in ("L1", "L2", "L3")]
    + [{"measurand": "Power.Active.Import", "value": "11000", "unit": "W"},
       {"measurand": "Energy.Active.Import.Register", "value": "123456", "unit": "Wh"}])


if __name__ == "__main__":
    main()
