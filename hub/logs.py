"""The hub's logs: text or JSON lines, access logs without secrets, and station activity at INFO
with a rate limit so that a reconnect storm does not become a log storm.

- ``configure_logging(level, fmt, verbose)``: ``fmt`` "text" or "json" (one object a line);
  alembic's INFO lines only with ``verbose``.
- ``SafeAccessLogger``: one line per HTTP request; tokens in paths (``/firmware/{token}/..``,
  ``/upload_diagnostics/{token}/..``) and secret query values are masked, headers are never
  logged (so neither is ``Authorization``).
- ``ActivityLog``: connect, boot, disconnect, transaction start/stop and commands at INFO, at
  most ``rate`` lines a second (burst ``burst``); what the bucket drops is summarised as
  "N more station activity lines suppressed" on the next line that passes.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

ACCESS_LOGGER = "pnc_hub.access"
ACTIVITY_LOGGER = "pnc_hub.activity"
# Path parameters whose values are credentials, and query keys whose values are.
SECRET_PATH_PARAMS = ("token",)
SECRET_QUERY_KEYS = frozenset({"token", "access_token", "key", "password", "secret",
                               "signature", "sig"})
MASK = "***"
MAX_LOGGED_PATH = 300


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (+ exception text)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text", verbose: bool = False) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime  # type: ignore[assignment]
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces every migration context at INFO: noise for every CLI command.
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


def safe_path(request: BaseRequest) -> str:
    """The request's path and query with credentials masked, cut to a loggable length."""
    path = request.rel_url.path
    match_info = getattr(request, "_match_info", None)
    if match_info is not None:
        for name in SECRET_PATH_PARAMS:
            value = match_info.get(name)
            if value:
                path = path.replace(f"/{value}", f"/{MASK}", 1)
    query = "&".join(f"{key}={MASK if key.lower() in SECRET_QUERY_KEYS else value}"
                     for key, value in request.rel_url.query.items())
    text = path + ("?" + query if query else "")
    if len(text) > MAX_LOGGED_PATH:
        text = f"{text[:MAX_LOGGED_PATH]}... ({len(text)} characters)"
    return text


class SafeAccessLogger(AbstractAccessLogger):
    """Remote, method, masked path, status, bytes, seconds; no headers, no secrets."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %s %.3fs', request.remote, request.method,
                         safe_path(request), response.status, response.body_length, time)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


class ActivityLog:
    """Station activity at INFO through a token bucket (``rate`` lines/s, ``burst``)."""

    def __init__(self, rate: float = 20.0, burst: int = 200,
                 logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(ACTIVITY_LOGGER)
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self.suppressed = 0

    def info(self, message: str, *args: Any) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            self.suppressed += 1
            return
        self._tokens -= 1
        if self.suppressed:
            self.logger.info("%d more station activity lines suppressed", self.suppressed)
            self.suppressed = 0
        self.logger.info(message, *args)
