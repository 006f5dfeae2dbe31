"""An FTP server inside the hub for chargers that upload diagnostics only over FTP (aioftp).

Off by default (``[files] ftp_enabled``). Nothing is browsable and nothing can be read: the
only thing a session can do is store one file for one request. Credentials are per request and
embedded in the location the hub gives the station (``ftp://diag<id>:<token>@host:port/``); the
password is that request's one-time upload token, so the same checks as for HTTP apply (unknown,
foreign, used or expired tokens are refused) and the upload goes through the same store (size
limit, quota, sanitised name, no overwrite, SHA-256).

Chargers often CWD/MKD into the location's path first; those commands are accepted without
touching any disk (the virtual directory is irrelevant: files land in the request's own
directory). Passive mode only (PASV/EPSV); data ports from ``[files] ftp_passive_ports``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

import aioftp
from aioftp.server import ConnectionConditions, worker

from hub.config import parse_port_list
from hub.files import diagnostics
from hub.files.names import UnsafeName, safe_file_name
from hub.files.service import Files, FtpEndpoint
from hub.files.store import StorageRefused

log = logging.getLogger(__name__)

LOGIN_PREFIX = "diag"
# Commands a charger needs to log in and store a file; everything else is 502.
KEPT = ("user", "pass", "quit", "syst", "type", "pwd", "pasv", "epsv", "abor")


class UploadUser(aioftp.User):
    def __init__(self, login: str) -> None:
        super().__init__(login, None, home_path="/",
                         permissions=[aioftp.Permission("/", readable=False, writable=True)])
        self.token: str | None = None


class TokenUsers(aioftp.AbstractUserManager):
    """Users are upload requests: login diag<id>, password = that request's upload token."""

    def __init__(self, files: Files) -> None:
        super().__init__()
        self.files = files

    async def get_user(self, login: str) -> tuple[Any, aioftp.User | None, str]:
        # Always ask for the password: which logins exist is nobody's business.
        return (aioftp.AbstractUserManager.GetUserResponse.PASSWORD_REQUIRED,
                UploadUser(login[:64]), "password required")

    async def authenticate(self, user: aioftp.User, password: str) -> bool:
        assert isinstance(user, UploadUser)
        login = user.login or ""
        if not login.startswith(LOGIN_PREFIX) or not login[len(LOGIN_PREFIX):].isdigit():
            return False
        try:
            row = await diagnostics.check_token(self.files, password)
        except diagnostics.UploadDenied as exc:
            log.info("FTP login %s refused: %s", login, exc.detail)
            return False
        if row.id != int(login[len(LOGIN_PREFIX):]):
            return False  # a valid token of another request: foreign
        user.token = password
        return True

    async def notify_logout(self, user: aioftp.User) -> None:
        return None


class UploadFtpServer(aioftp.Server):
    def __init__(self, files: Files, **kwargs: Any) -> None:
        super().__init__(TokenUsers(files), **kwargs)
        self.files = files
        mapping = {name: self.commands_mapping[name] for name in KEPT}
        mapping.update(cwd=self.cwd_anywhere, cdup=self.cdup_anywhere, mkd=self.mkd_nothing,
                       stor=self.stor_upload, noop=self.noop)
        self.commands_mapping = mapping  # type: ignore[assignment]

    async def noop(self, connection: Any, rest: str) -> bool:
        connection.response("200", "ok")
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    async def cwd_anywhere(self, connection: Any, rest: str) -> bool:
        _, virtual = self.get_paths(connection, rest)
        connection.current_directory = virtual
        connection.response("250", "")
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    async def cdup_anywhere(self, connection: Any, rest: str) -> bool:
        connection.current_directory = connection.current_directory.parent
        connection.response("250", "")
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    async def mkd_nothing(self, connection: Any, rest: str) -> bool:
        connection.response("257", "")
        return True

    @ConnectionConditions(ConnectionConditions.login_required,
                          ConnectionConditions.passive_server_started)
    async def stor_upload(self, connection: Any, rest: str) -> bool:
        raw = str(rest)
        parts = raw.replace("\\", "/").split("/")
        try:
            if ".." in parts or "\x00" in raw:
                raise UnsafeName("a path must not refer to a parent directory")
            given = parts[-1] or None
            if given is not None:
                safe_file_name(given, "x")
        except UnsafeName as exc:
            connection.response("553", f"file name not allowed: {exc}")
            return True
        try:
            await diagnostics.check_token(self.files, connection.user.token)
        except diagnostics.UploadDenied as exc:
            connection.response("550", exc.detail)
            return True

        @ConnectionConditions(ConnectionConditions.data_connection_made, wait=True,
                              fail_code="425", fail_info="Can't open data connection")
        @worker
        async def stor_worker(server: UploadFtpServer, connection: Any, rest: str) -> bool:
            stream = connection.data_connection
            del connection.data_connection
            async with stream:
                await server.receive(connection, stream, given)
            return True

        task = asyncio.create_task(stor_worker(self, connection, rest))
        connection.extra_workers.add(task)
        connection.response("150", "data transfer started")
        return True

    async def receive(self, connection: Any, stream: Any, given: str | None) -> None:
        files = self.files
        try:
            claim = await diagnostics.claim_upload(files, connection.user.token)
        except diagnostics.UploadDenied as exc:
            connection.response("550", exc.detail)
            return
        sink = files.store.sink(files.config.max_upload_bytes)
        try:
            name = diagnostics.upload_name(claim, given)
            async for data in stream.iter_by_block(connection.block_size):
                sink.write(data)
            result = await diagnostics.store_upload(files, claim, sink, name, given, "ftp")
        except StorageRefused as exc:
            connection.response(exc.ftp_code, str(exc))
        except diagnostics.UploadDenied as exc:
            connection.response("550", exc.detail)
        else:
            connection.response("226", f"stored {result['name']} sha256={result['sha256']}")
        finally:
            sink.discard()
            diagnostics.release(files, claim)


async def start_ftp(files: Files) -> FtpEndpoint:
    config = files.config
    forced = None
    if config.ftp_public_host:
        try:
            if ipaddress.ip_address(config.ftp_public_host).version == 4:
                forced = config.ftp_public_host  # behind NAT: announce this in PASV answers
        except ValueError:
            pass  # a host name: announced in locations only
    ports = parse_port_list(config.ftp_passive_ports, "files.ftp_passive_ports")
    server = UploadFtpServer(
        files, data_ports=ports or None, ipv4_pasv_forced_response_address=forced,
        socket_timeout=60, idle_timeout=120, wait_future_timeout=10,
        maximum_connections=200, welcome_message="pnc-hub diagnostics upload")
    await server.start(config.ftp_host, config.ftp_port)
    port = server.address[1]
    log.info("FTP uploads on %s:%s", config.ftp_host, port)
    return FtpEndpoint(port=port, close=server.close)

