"""HTTP connections that send their request late: a time of their own, and an answer.

aiohttp has one clock for a connection before its request is in: the keep-alive timer, which
closes the socket silently (a bare FIN). A charger behind a busy gateway, or one that opened
its TCP connection and then spent seconds on TLS or its own work, then sees a connection reset
and no reason. Here the first request gets ``ocpp.upgrade_timeout`` seconds (its own setting,
default 30 s, separate from the keep-alive time between requests), and a connection that has
not sent a complete request by then is answered ``408 Request Timeout`` before it is closed.

aiohttp offers no setting for either, so the app factory's application builds its server with
the request handler below (``HubApplication``).
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"Content-Type: application/json\r\n"
    b"Connection: close\r\n"
    b"Content-Length: 86\r\n\r\n"
    b'{"error": "request_timeout", "detail": "the HTTP request did not arrive in time....."}'
)
assert REQUEST_TIMEOUT.endswith(b"}") and len(REQUEST_TIMEOUT.split(b"\r\n\r\n")[1]) == 86


class LateRequestHandler(RequestHandler):
    """aiohttp's request handler with a first-request time of its own, and a 408 answer."""

    def __init__(self, *args: Any, upgrade_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._upgrade_timeout = upgrade_timeout

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._upgrade_timeout <= 0:
            return
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
        loop = self._loop
        self._next_keepalive_close_time = loop.time() + self._upgrade_timeout
        self._keepalive_handle = loop.call_at(self._next_keepalive_close_time,
                                              self._process_keepalive)

    def _process_keepalive(self) -> None:
        if (self._request_count == 0 and not self._force_close and self.transport is not None
                and self._loop.time() >= self._next_keepalive_close_time
                and self._waiter is not None and not self._waiter.done()):
            # Nothing (or half a request) came in time: say so before closing. The closing
            # transport still sends what was written.
            self.transport.write(REQUEST_TIMEOUT)
        super()._process_keepalive()


class LateRequestServer(web.Server):
    """aiohttp's server, handing its connections to LateRequestHandler; the first-request time
    comes in the app's ``handler_args`` as ``upgrade_timeout``."""

    handler_class: type[LateRequestHandler] = LateRequestHandler

    def __call__(self) -> RequestHandler:
        kwargs = dict(self._kwargs)
        upgrade_timeout = kwargs.pop("upgrade_timeout", 0.0)
        return self.handler_class(self, loop=self._loop, upgrade_timeout=upgrade_timeout,
                                  **kwargs)


with warnings.catch_warnings():
    # aiohttp discourages subclassing Application; this one only changes how its server's
    # connections are handled (web.run_app and web.AppRunner both ask the app for it).
    warnings.simplefilter("ignore", DeprecationWarning)

    class HubApplication(web.Application):
        def _make_handler(self, *, loop: asyncio.AbstractEventLoop | None = None,
                          **kwargs: Any) -> web.Server:
            server = super()._make_handler(loop=loop, **kwargs)
            server.__class__ = LateRequestServer
            return server
