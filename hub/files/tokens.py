"""One-time upload tokens and firmware download tokens.

Chargers cannot send bearer tokens, so the hub puts a random token into the location it gives
them (``.../upload_diagnostics/<token>``, ``ftp://diag<id>:<token>@host/``,
``.../firmware/<token>/<name>``). Only the SHA-256 is stored. The prefix says what a token is
for, so a firmware token offered as an upload token (or the reverse) is refused without a
database lookup ever matching it.
"""

from __future__ import annotations

import hashlib
import re
import secrets

UPLOAD_PREFIX = "up"
DOWNLOAD_PREFIX = "fw"
# token_urlsafe(24) is 32 characters of [A-Za-z0-9_-]: safe in paths and FTP credentials.
TOKEN_LENGTH = 2 + 32


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


REDACTED = "***"
# What a location may carry as a credential: the password of ``scheme://user:password@`` (up to
# the last "@" before the path, in case a password holds an unencoded one), the token path
# segment of the hub's own upload and download routes, and a ``token`` query parameter (the
# seed routes' form).
_SECRETS = [
    re.compile(r"(?P<keep>://[^/?#@:\s\"]*:)[^/?#\s\"]*@"),
    re.compile(rf"(?P<keep>/(?:upload_diagnostics|firmware)/)"
               rf"(?:{UPLOAD_PREFIX}|{DOWNLOAD_PREFIX})[A-Za-z0-9_-]{{{TOKEN_LENGTH - 2}}}"),
    re.compile(r"(?P<keep>[?&]token=)[^&#\s\"]*"),
]


def redact(text: str) -> str:
    """``text`` (a location, or a whole OCPP frame holding one) with its credentials replaced
    by ``***``: how every location the hub keeps (requests, their events, the OCPP message
    log) and shows is stored."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda found: found.group("keep") + REDACTED
                           + ("@" if found.group(0).endswith("@") else ""), text)
    return text


def looks_like(value: str, prefix: str) -> bool:
    return len(value) >= TOKEN_LENGTH and value.startswith(prefix)


def split_token(segment: str, prefix: str) -> tuple[str, str] | None:
    """(token, rest) for a path segment that starts with a token: chargers that append their
    file name to the location without a slash send ``<token><filename>``."""
    if not looks_like(segment, prefix):
        return None
    return segment[:TOKEN_LENGTH], segment[TOKEN_LENGTH:]
