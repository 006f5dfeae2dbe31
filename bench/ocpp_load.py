#!/usr/bin/env python3
"""OCPP load benchmark (1.6J or 2.0.1): the hub against two baselines, one generator, one run.

Servers (each its own subprocess):

  hub   ``python3 -m hub serve --dev`` on a fresh SQLite database (or ``--hub-url``: a running hub)
  ocpp  bench/baseline_ocpp_server.py (1.6) / baseline_ocpp201_server.py (2.0.1): the ``ocpp``
        package's canonical central system, defaults
  raw   bench/baseline_raw_server.py: aiohttp WebSocket answering canned JSON, no validation

The generator opens N real OCPP WebSocket stations (subprotocol ``ocpp1.6``, or ``ocpp2.0.1``
with ``--ocpp-version 2.0.1``; ids ``BENCH-00001``...), boots them, then runs two timed phases:

  heartbeat  every station loops Heartbeat -> response as fast as it can
  tx-mix     every station loops Authorize, StartTransaction, 5 x MeterValues, StopTransaction
             (2.0.1: Authorize, TransactionEvent Started, 5 x Updated, Ended)

and reports round trips (messages) per second across all stations with p50/p99 latency. All
servers are started first and the measured windows are interleaved across them, phase by phase
(``--rounds N`` repeats that and reports each server's best window). Every response is checked:
a CALLERROR, a mismatched unique id, a malformed or missing answer counts as an error.

The generator is hand-built JSON frames on raw aiohttp client WebSockets, in its own process(es);
by default every server is pinned to CPU 0 and the generator to the other CPUs so that neither
steals the other's core. CPU use of both sides, and of anything else on the machine, is reported
so that a generator-bound or disturbed figure is visible as such.

The parts live in bench/ocpp_bench/ (see its __init__); this file is the entry point.

    python3 bench/ocpp_load.py                       # all three, 50 stations, 10 s per phase
    python3 bench/ocpp_load.py --only hub --hub-url ws://127.0.0.1:9751/ocpp
    python3 bench/ocpp_load.py --ocpp-version 2.0.1
"""

from __future__ import annotations

import sys

if __package__:  # imported as bench.ocpp_load
    from .ocpp_bench.cli import main, parse_args
else:  # run as a script: bench/ is sys.path[0]
    from ocpp_bench.cli import main, parse_args

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
