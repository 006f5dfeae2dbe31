"""The CPO -> Hubject client: JSON over HTTPS with mutual TLS, on aiohttp.

One method per operation kind; every answer is read for its ``Result`` and ``StatusCode``.
Failures come out typed so that the outbox worker can decide what to retry:

- ``TransientError``: timeouts, connection failures, HTTP 5xx, 429 (with Retry-After), 401/403
  (a certificate problem an operator can fix; dropping the data would be worse), a body that is
  not an acknowledgement, and Hubject's own system-error status codes;
- ``RejectedError``: Hubject understood the request and refused it (HTTP 4xx, or an
  acknowledgement with ``Result: false`` and a non-transient code): retrying will not help.

Pushes of one operation are sent one after the other (Hubject requires it), and each operation
stays under its per-minute rate limit.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import ssl
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import aiohttp

from oicp.config import OicpConfig

log = logging.getLogger(__name__)

# Hubject-side failures worth another try (CodeType: system/database/transaction errors).
TRANSIENT_CODES = frozenset({"001", "002", "009", "021"})


class Operation(Enum):
    # value: (path template, sequential push?)
    PushEvseData = ("/evsepush/v23/operators/{operator_id}/data-records", True)
    PushEvseStatus = ("/evsepush/v21/operators/{operator_id}/status-records", True)
    AuthorizeStart = ("/charging/v21/operators/{operator_id}/authorize/start", False)
    AuthorizeStop = ("/charging/v21/operators/{operator_id}/authorize/stop", False)
    ChargeDetailRecord = ("/cdrmgmt/v22/operators/{operator_id}/charge-detail-record", True)
    ChargingNotifications = ("/notificationmgmt/v11/charging-notifications", True)
    PushPricingProductData = ("/dynamicpricing/v10/operators/{operator_id}/pricing-products", True)
    PushEVSEPricing = ("/dynamicpricing/v10/operators/{operator_id}/evse-pricing", True)

    @property
    def path_template(self) -> str:
        return self.value[0]

    @property
    def sequential(self) -> bool:
        return self.value[1]


class HubjectError(Exception):
    def __init__(self, message: str, *, status: int | None = None,
                 answer: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.answer = answer


class TransientError(HubjectError):
    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None, answer: dict[str, Any] | None = None) -> None:
        super().__init__(message, status=status, answer=answer)
        self.retry_after = retry_after


class RejectedError(HubjectError):
    pass


@dataclass(frozen=True)
class Ack:
    """An eRoamingAcknowledgement (or an authorization answer: same StatusCode shape)."""

    result: bool
    code: str
    description: str | None = None
    additional_info: str | None = None
    session_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> Ack:
        status = answer.get("StatusCode") or {}
        result = answer.get("Result")
        if result is None and "AuthorizationStatus" in answer:
            result = answer["AuthorizationStatus"] == "Authorized"
        return cls(result=bool(result), code=str(status.get("Code", "")),
                   description=status.get("Description"),
                   additional_info=status.get("AdditionalInfo"),
                   session_id=answer.get("SessionID"), raw=answer)


class RateLimiter:
    """At most ``per_minute`` requests in any 60 s window (sliding window of send times)."""

    def __init__(self, per_minute: int, window: float = 60.0) -> None:
        self.per_minute = max(1, per_minute)
        self.window = window
        self._sent: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                if len(self._sent) < self.per_minute:
                    self._sent.append(now)
                    return
                delay = self.window - (now - self._sent[0])
                self.waited_seconds += delay
                await asyncio.sleep(delay)


def client_ssl_context(config: OicpConfig) -> ssl.SSLContext:
    """TLS towards Hubject: the CA bundle (or the system's), and our client certificate."""
    context = ssl.create_default_context(cafile=config.ca_bundle or None)
    if config.client_cert:
        context.load_cert_chain(config.client_cert, config.client_key)
    return context


class HubjectClient:
    def __init__(self, config: OicpConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._locks = {op: asyncio.Lock() for op in Operation}
        self._limiters = {op: RateLimiter(config.rate_limit(op.name)) for op in Operation}
        self.requests = collections.Counter[str]()
        self.failures = collections.Counter[str]()

    async def start(self) -> None:
        if self._session is not None:
            return
        ssl_arg: ssl.SSLContext | bool = (client_ssl_context(self.config)
                                          if self.config.url.startswith("https") else False)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_arg, limit=20),
            timeout=aiohttp.ClientTimeout(total=self.config.request_timeout),
            json_serialize=lambda obj: json.dumps(obj, separators=(",", ":")),
            headers={"Accept": "application/json"},
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, operation: Operation) -> str:
        return self.config.url + operation.path_template.format(
            operator_id=self.config.operator_id)

    async def send(self, operation: Operation, body: dict[str, Any],
                   timeout: float | None = None) -> dict[str, Any]:
        """POST ``body``; return Hubject's answer (JSON object) or raise a HubjectError."""
        if operation.sequential:
            async with self._locks[operation]:
                return await self._send(operation, body, timeout)
        return await self._send(operation, body, timeout)

    async def acknowledge(self, operation: Operation, body: dict[str, Any],
                          timeout: float | None = None) -> Ack:
        """Send and read the acknowledgement; ``Result: false`` raises Transient/Rejected."""
        ack = Ack.from_answer(await self.send(operation, body, timeout))
        if not ack.result:
            message = f"{operation.name}: Result false, StatusCode {ack.code}" + (
                f" ({ack.description})" if ack.description else "")
            if ack.code in TRANSIENT_CODES:
                raise TransientError(message, answer=ack.raw)
            raise RejectedError(message, answer=ack.raw)
        return ack

    async def _send(self, operation: Operation, body: dict[str, Any],
                    timeout: float | None) -> dict[str, Any]:
        await self.start()
        assert self._session is not None
        await self._limiters[operation].acquire()
        self.requests[operation.name] += 1
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with self._session.post(self.url(operation), json=body, **kwargs) as response:
                text = await response.text()
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            self.failures[operation.name] += 1
            raise TransientError(f"{operation.name}: no answer within the timeout") from None
        except aiohttp.ClientError as exc:
            self.failures[operation.name] += 1
            raise TransientError(f"{operation.name}: {type(exc).__name__}: {exc}") from None

        if status == 429 or status >= 500 or status in (401, 403, 408):
            self.failures[operation.name] += 1
            raise TransientError(f"{operation.name}: HTTP {status}", status=status,
                                 retry_after=retry_after)
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if status >= 400:
            self.failures[operation.name] += 1
            raise RejectedError(f"{operation.name}: HTTP {status}: {text[:200]}", status=status,
                                answer=answer if isinstance(answer, dict) else None)
        if not isinstance(answer, dict) or "StatusCode" not in answer:
            self.failures[operation.name] += 1
            raise TransientError(f"{operation.name}: answer is not an OICP acknowledgement",
                                 status=status)
        return answer

    def stats(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "failures": dict(self.failures),
            "rate_limit_wait_seconds": {op.name: round(lim.waited_seconds, 3)
                                        for op, lim in self._limiters.items()
                                        if lim.waited_seconds},
        }


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
