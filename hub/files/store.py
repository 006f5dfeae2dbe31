"""Files on disk under ``[files] data_dir``, with size limits and a quota.

Layout::

    data_dir/tmp/<random>.part                              uploads in progress
    data_dir/diagnostics/<station dir>/<request id>/<name>   diagnostics and logs
    data_dir/firmware/<name>                                 firmware images

An upload streams into ``tmp`` (hashing as it goes, refusing the first byte past the limit or
the quota) and is then hard-linked into place: ``os.link`` fails if the target exists, so no
upload can replace a stored file, whoever sent it. Paths are always built from sanitised names
(hub.files.names) and checked to stay inside data_dir. On refusal the partial file is removed:
nothing is left behind.

The quota counts the stored files (from the database at start) plus the bytes of uploads in
progress, so concurrent uploads cannot overrun it together.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK = 64 * 1024


class StorageRefused(Exception):
    """An upload the store will not keep; ``status``/``error`` for HTTP, ``ftp_code`` for FTP."""

    status = 400
    error = "upload_refused"
    ftp_code = "550"


class TooLarge(StorageRefused):
    status = 413
    error = "upload_too_large"
    ftp_code = "552"


class QuotaExceeded(StorageRefused):
    status = 507
    error = "storage_quota_exceeded"
    ftp_code = "552"


class AlreadyStored(StorageRefused):
    status = 409
    error = "file_exists"
    ftp_code = "553"


class FileStore:
    def __init__(self, root: Path, quota_bytes: int) -> None:
        self.root = root.resolve()
        self.quota_bytes = quota_bytes
        self.used_bytes = 0
        self.reserved_bytes = 0

    def prepare(self) -> None:
        """Drop uploads a previous process left unfinished. Directories are created on the
        first upload: a hub that never receives a file leaves nothing on disk."""
        tmp = self.root / "tmp"
        if tmp.is_dir():
            for leftover in tmp.glob("*.part"):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def path(self, relpath: str) -> Path:
        """The absolute path of a stored file; refuses anything outside data_dir."""
        path = (self.root / relpath).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise StorageRefused(f"path {relpath!r} is outside the data directory")
        return path

    def sink(self, limit: int) -> Sink:
        return Sink(self, limit)

    def remove(self, relpath: str, size: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(relpath).unlink()
        self.used_bytes = max(0, self.used_bytes - size)


class Sink:
    """One upload in progress: write chunks, then ``place`` it or ``discard`` it."""

    def __init__(self, store: FileStore, limit: int) -> None:
        self.store = store
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self._tmp = store.root / "tmp" / f"{uuid.uuid4().hex}.part"
        self._tmp.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self._tmp, "xb")  # noqa: SIM115 (closed by place/discard)
        self._placed: Path | None = None
        self._reserved = True

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def check_announced(self, length: int | None) -> None:
        """Refuse before reading a byte when the announced length is already too much."""
        if length is None:
            return
        if length > self.limit:
            raise TooLarge(f"the upload is {length} bytes; the limit is {self.limit}")
        store = self.store
        if store.used_bytes + store.reserved_bytes + length > store.quota_bytes:
            raise QuotaExceeded("the hub's storage quota for files is used up")

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        store = self.store
        if self.size + len(chunk) > self.limit:
            raise TooLarge(f"the upload exceeds the limit of {self.limit} bytes")
        if store.used_bytes + store.reserved_bytes + len(chunk) > store.quota_bytes:
            raise QuotaExceeded("the hub's storage quota for files is used up")
        store.reserved_bytes += len(chunk)
        self.size += len(chunk)
        self._hash.update(chunk)
        self._file.write(chunk)

    async def finish(self) -> None:
        """Flush to disk (off the event loop: fsync may take a while on a busy disk)."""
        self._file.flush()
        await asyncio.to_thread(os.fsync, self._file.fileno())
        self._file.close()

    def place(self, relpath: str) -> Path:
        """Link the finished upload to ``relpath``; AlreadyStored if something is there."""
        target = self.store.path(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self._tmp, target)
        except FileExistsError:
            raise AlreadyStored(f"{relpath} already exists") from None
        self._placed = target
        self._release()
        self.store.used_bytes += self.size
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()
        return target

    def unplace(self) -> None:
        """Undo ``place`` (the database refused the file)."""
        if self._placed is not None:
            with contextlib.suppress(FileNotFoundError):
                self._placed.unlink()
            self.store.used_bytes = max(0, self.store.used_bytes - self.size)
            self._placed = None

    def discard(self) -> None:
        """Drop the temporary file (always safe to call, also after ``place``)."""
        if not self._file.closed:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()
        self._release()

    def _release(self) -> None:
        if self._reserved:
            self._reserved = False
            self.store.reserved_bytes = max(0, self.store.reserved_bytes - self.size)
