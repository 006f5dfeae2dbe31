"""OCPP timestamps (RFC 3339) to aware UTC datetimes and back."""

from __future__ import annotations

from datetime import UTC, datetime


class InvalidTimestamp(ValueError):
    pass


def parse_timestamp(value: str) -> datetime:
    """Parse an OCPP dateTime; a timestamp without offset is taken as UTC (chargers differ)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidTimestamp(f"not an RFC 3339 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # year 1 or 9999 pushed out of range by the offset
        raise InvalidTimestamp(f"timestamp out of range: {value!r}") from exc


def format_timestamp(value: datetime) -> str:
    """UTC with millisecond precision and a Z, the form every charger accepts."""
    value = value.astimezone(UTC)
    # Not strftime("%Y"): glibc does not zero-pad years before 1000 ("88-03-20T...").
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
            f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z")
