"""One-time upload tokens and firmware download tokens.

Chargers cannot send bearer tokens, so the hub puts a random token into the location it gives
them (``.../upload_diagnostics/<token>``, ``ftp://diag<id>:<token>@host/``,
``.../firmware/<token>/<name>``). Only the SHA-256 is stored. The prefix says what a token is
for, so a firmware token offered as an upload token (or the reverse) is refused without a
database lookup ever matching it.
"""

from __future__ import annotations

import hashlib
import secrets

UPLOAD_PREFIX = "up"
DOWNLOAD_PREFIX = "fw"
# token_urlsafe(24) is 32 characters of [A-Za-z0-9_-]: safe in paths and FTP credentials.
TOKEN_LENGTH = 2 + 32


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like(value: str, prefix: str) -> bool:
    return len(value) >= TOKEN_LENGTH and value.startswith(prefix)


def split_token(segment: str, prefix: str) -> tuple[str, str] | None:
    """(token, rest) for a path segment that starts with a token: chargers that append their
    file name to the location without a slash send ``<token><filename>``."""
    if not looks_like(segment, prefix):
        return None
    return segment[:TOKEN_LENGTH], segment[TOKEN_LENGTH:]
