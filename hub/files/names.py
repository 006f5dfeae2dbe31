"""File names from untrusted input: refuse traversal, sanitise the rest.

A name that tries to leave its directory (a path separator, ``..``, NUL) is refused outright:
nothing legitimate needs one, and refusing makes the attempt visible. Other odd characters
(spaces, umlauts, shell metacharacters) are replaced, so stored names are plain
``[A-Za-z0-9._-]`` and safe in paths, URLs and Content-Disposition headers.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class UnsafeName(ValueError):
    """A file name that would escape its directory."""


def safe_file_name(raw: str | None, default: str) -> str:
    """The sanitised form of ``raw`` (``default`` when empty); UnsafeName for traversal."""
    if raw is None or not raw.strip():
        return default
    if "\x00" in raw or "/" in raw or "\\" in raw:
        raise UnsafeName("a file name must not contain path separators or NUL")
    if raw.strip() in (".", "..") or raw.startswith(".."):
        raise UnsafeName("a file name must not refer to a parent directory")
    cleaned = _UNSAFE.sub("_", raw.strip()).lstrip(".")
    if len(cleaned) > MAX_NAME:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            cleaned = stem[:MAX_NAME - len(ext) - 1] + "." + ext
        else:
            cleaned = cleaned[:MAX_NAME]
    return cleaned or default


def station_dir(station_id: str) -> str:
    """A directory name for a station: readable, and distinct for ids that sanitise alike."""
    readable = _UNSAFE.sub("_", station_id).lstrip(".")[:40] or "station"
    return f"{readable}-{hashlib.sha256(station_id.encode()).hexdigest()[:10]}"
