"""``pnc-hub serve``: bind, start (migrate, features), then announce; fail in one line.

Order matters to an operator: the port is bound before anything else happens, so a port in use
fails before a migration runs or a dev token is printed; "listening" is printed only once the
site accepts connections. A start-up failure (port taken, database unreachable, schema behind)
is one line on stderr and exit code 2; ``-v`` adds the traceback.

The HTTP server answers request lines and headers over aiohttp's limits (8 KB) itself, with
414 / 431 in the hub's JSON error shape and one log line, instead of aiohttp's plain-text 400
with an ERROR traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from hub.late_handshake import LateRequestHandler, LateRequestServer
from hub.logs import ACCESS_LOGGER, SafeAccessLogger

log = logging.getLogger(__name__)
EXIT_STARTUP = 2
_REQUEST_LINE = re.compile(rb"^[A-Z]+ ")


class StartupFailed(Exception):
    """The hub could not start; the message is the one line the operator sees."""


def bind(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket, or StartupFailed naming the address."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise StartupFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise StartupFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


class HubRequestHandler(LateRequestHandler):
    """The app's connection handler (a first-request time of its own, hub.late_handshake), with
    the hub's answer to requests it cannot parse."""

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        status, error, detail = _parse_error(exc)
        # A client's malformed request is not the hub's error: one line, no traceback.
        log.info("refused an unparsable request from %s: %s %s", request.remote, status, detail)
        body = json.dumps({"error": error, "detail": detail})
        response = web.Response(status=status, text=body, content_type="application/json")
        response.force_close()
        return response


def _parse_error(exc: HttpProcessingError) -> tuple[int, str, str]:
    if isinstance(exc, LineTooLong):
        first = exc.args[0] if exc.args else b""
        line = bytes(first) if isinstance(first, bytes | bytearray) else b""
        # The C parser reports the URL, the pure-Python one the whole request line; any other
        # line over the limit is a header.
        if line.startswith(b"/") or _REQUEST_LINE.match(line):
            return 414, "uri_too_long", "the request line is longer than the hub accepts (8 KB)"
        return 431, "header_fields_too_large", "a request header is longer than the hub " \
                                               "accepts (8 KB)"
    return 400, "bad_request", f"malformed HTTP request: {exc.message}"


class _HubServer(LateRequestServer):
    handler_class = HubRequestHandler


class HubAppRunner(web.AppRunner):
    """An AppRunner whose connections are handled by ``HubRequestHandler``."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds its Server in Application._make_handler; only the connection factory
        # (``__call__``) differs, so the instance is re-classed rather than rebuilt.
        server.__class__ = _HubServer
        return server


async def run_until_signal(app: web.Application, sock: socket.socket, *,
                           tls: ssl.SSLContext | None, backlog: int,
                           announce: Callable[[], None]) -> None:
    """Start ``app`` on ``sock`` (startup may raise StartupFailed), announce, serve until
    SIGINT/SIGTERM, then clean up while every other task of the hub still runs (the group
    committer must outlive the features that flush into it)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = HubAppRunner(app, handle_signals=False, access_log_class=SafeAccessLogger,
                          access_log=logging.getLogger(ACCESS_LOGGER))
    try:
        try:
            await runner.setup()
        except Exception as exc:
            raise StartupFailed(describe_startup_error(exc, app)) from exc
        site = web.SockSite(runner, sock, ssl_context=tls, backlog=backlog)
        await site.start()
        announce()
        await stop.wait()
    finally:
        try:
            await runner.cleanup()
        except Exception:
            log.exception("shutting the hub down failed")
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await _outlive_sqlite_threads()


async def _outlive_sqlite_threads(limit: float = 2.0) -> None:
    """Keep the loop open until aiosqlite's worker threads end. A connection that failed to
    open (a missing directory) queues its own stop with a future of this loop that nobody
    awaits; if asyncio.run closed the loop first, the thread prints a traceback."""
    workers = [t for t in threading.enumerate()
               if t.name.endswith("(_connection_worker_thread)")]
    for worker in workers:
        await asyncio.to_thread(worker.join, limit / max(1, len(workers)))


def describe_startup_error(exc: BaseException, app: web.Application) -> str:
    from sqlalchemy.exc import SQLAlchemyError

    from hub.app import safe_database_url
    from hub.feature_api import CONFIG

    url = safe_database_url(app[CONFIG].database.url)
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc) else \
        type(exc).__name__
    if isinstance(exc, SQLAlchemyError | ConnectionError | TimeoutError) or \
            (isinstance(exc, OSError) and exc.errno is not None):
        return f"cannot use the database {url}: {text}"
    return f"start-up failed: {text}"


def serve(app: web.Application, sock: socket.socket, *, tls: ssl.SSLContext | None,
          backlog: int, announce: Callable[[], None]) -> int:
    try:
        asyncio.run(run_until_signal(app, sock, tls=tls, backlog=backlog, announce=announce))
    except KeyboardInterrupt:  # a second Ctrl-C while shutting down
        return 0
    except StartupFailed as exc:
        log.debug("start-up failed", exc_info=exc.__cause__)
        print(f"pnc-hub: {exc}", file=sys.stderr, flush=True)
        return EXIT_STARTUP
    return 0
