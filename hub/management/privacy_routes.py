"""GDPR, the hub's own part: erase an id token's personal data (admin only; the station's part
is ``POST /api/customerInformation``)."""

from __future__ import annotations

from aiohttp import web

from hub.management import schemas as s
from hub.management.common import hub_of, json_body, text_field
from hub.openapi import operation
from hub.services.id_token_erasure import erase_id_token

ERASE_BODY = s.obj(["id_token"], id_token={"type": "string", "minLength": 1, "maxLength": 36,
                                           "examples": ["04A2B3C4"]})
ERASED = s.obj(["pseudonym", "transactions", "reservations", "transaction_events",
                "messages", "id_tag_removed"],
               pseudonym={"type": "string", "examples": ["erased-0123456789abcdef"]},
               transactions=s.INTEGER, reservations=s.INTEGER, transaction_events=s.INTEGER,
               messages=s.INTEGER, id_tag_removed=s.BOOLEAN)


@operation("GDPR: erase an id token's personal data in the hub (transactions kept, "
           "pseudonymised)", tags=["privacy"], body=ERASE_BODY, response=ERASED,
           description="The token is replaced by one random pseudonym in transactions, "
                       "reservations, transaction events and the OCPP message log; its id tag "
                       "is deleted. Features pseudonymise their own records in the same "
                       "transaction. Irreversible: the hub keeps only the pseudonym.")
async def erase(request: web.Request) -> web.Response:
    body = await json_body(request)
    id_token = text_field(body, "id_token", max_length=36)
    assert id_token is not None
    erasure = await erase_id_token(hub_of(request), id_token)
    return web.json_response({
        "pseudonym": erasure.pseudonym, "transactions": erasure.transactions,
        "reservations": erasure.reservations, "transaction_events": erasure.transaction_events,
        "messages": erasure.messages, "id_tag_removed": erasure.id_tag_removed})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/idTokens/erase", erase)
