"""``pnc-hub hubject-mock``: a local Hubject to try roaming on one machine.

It answers the hub's pushes and authorisations like Hubject's QA system, checks each
request against the OICP 2.3 OpenAPI when the specification is found (--specs,
$PNC_HUB_SPECS, or ../shared/specs), and fires remote start/stop at the hub through a
small control API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any


def run_hubject_mock(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from oicp.mock_hubject import MockHubject
    from oicp.spec import find_specs, load_spec

    specs = find_specs(args.specs)
    if args.specs and specs is None:
        print(f"pnc-hub: no oicp-2.3/cpo-openapi.lenient.yaml in {args.specs}", flush=True)
        return 2
    mock = MockHubject(spec=load_spec(args.specs), host=args.host, port=args.port,
                       hub_url=args.hub_url, provider_id=args.provider_id,
                       webhook_secret=args.webhook_secret)
    # Handlers first: a signal right after the announcement must end the mock cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await mock.start()
    _announce(mock, specs)
    try:
        await stop.wait()
    finally:
        await mock.stop()
    return 0


def _announce(mock: Any, specs: Any) -> None:
    control = mock.url.removesuffix("/api/oicp")
    checked = (f"checking every request against the OICP 2.3 OpenAPI in {specs}" if specs
               else "WITHOUT schema validation: the OICP 2.3 OpenAPI was not found (--specs "
                    "DIR or PNC_HUB_SPECS=DIR, a folder holding oicp-2.3/)")
    print(f"Hubject mock listening on {mock.url}, {checked}\n"
          f"Point a hub at it:\n"
          f"  PNC_HUB_OICP__OPERATOR_ID='DE*ABC' PNC_HUB_OICP__HOTLINE_PHONE_NUMBER=+4930123456 "
          f"PNC_HUB_OICP__BASE_URL={mock.url} pnc-hub serve --dev\n"
          f"Remote start / stop (as the EMP {mock.provider_id}, at {mock.hub_url}):\n"
          f"  curl -X POST {control}/mock/remote-start "
          "-d '{\"evse_id\": \"DE*ABC*E1*1\", \"emaid\": \"DE-8EO-CAB12345C-7\"}'\n"
          f"  curl -X POST {control}/mock/remote-stop "
          "-d '{\"session_id\": \"...\", \"evse_id\": \"DE*ABC*E1*1\"}'\n"
          f"What it received: curl {control}/mock/requests", flush=True)
