"""The OCPP load benchmark behind ``bench/ocpp_load.py``, by what each part does.

- ``common``: paths and the figures every part shares (servers, phases, id tag, grace time)
- ``station``: one simulated charge point on a raw aiohttp WebSocket, and what it records
- ``ocpp16``: the OCPP 1.6J frames: boot, the transaction mix
- ``ocpp201``: the OCPP 2.0.1 frames: boot, the transaction mix (TransactionEvent)
- ``versions``: the versions by ``--ocpp-version`` (a ``common.Dialect`` each)
- ``generator``: the worker processes that connect the stations and run the timed phases
- ``servers``: starting, pinning and stopping the servers under test
- ``hub_checks``: the hub's own /metrics and its database, cross-checked with the answers
- ``report``: CPU accounting, a measured window's figures, the table and ratios
- ``run``: one target per server, the measured windows interleaved across them
- ``cli``: options and ``main``
"""
