"""A malformed multipart body is the sender's error (400 naming the body), never a 500."""

from __future__ import annotations

from typing import Any

import aiohttp


async def test_a_part_header_with_control_characters_is_a_400(hub_factory: Any) -> None:
    running = await hub_factory()
    body = (b'--b\r\nContent-Disposition: form-data; name="di\x0fag"\r\n\r\n'
            b'x\r\n--b--\r\n')
    headers = {"Content-Type": "multipart/form-data; boundary=b", **running.auth}
    async with aiohttp.ClientSession() as http:
        for path in ("/upload_diagnostics/some-token", "/api/firmware"):
            async with http.post(running.http_url + path, data=body,
                                 headers=headers) as response:
                assert response.status == 400, (path, await response.text())
                answer = await response.json()
                assert answer["field"] == "body" and "multipart" in answer["detail"]
