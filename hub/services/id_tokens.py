"""OCPP 2.0.1 idTokens authorised by the same rules as 1.6 idTags.

An IdTokenType is {idToken, type}; the core authorises the idToken string (local tags first,
then the features' remote authorisers, e.g. Hubject for an eMAID) and the answer becomes a
2.0.1 IdTokenInfoType: the status (1.6's statuses are a subset of 2.0.1's), the tag's expiry
as cacheExpiryDateTime and its parent tag as groupIdToken.
"""

from __future__ import annotations

import re
from typing import Any

from hub.context import Hub
from hub.services.authorization import Authorization, authorize
from hub.services.timestamps import format_timestamp

# ISO 15118 / DIN SPEC 91286 contract id: country, provider, instance, optional check digit.
EMAID = re.compile(r"^[A-Z]{2}-?[A-Z0-9]{3}-?[A-Z0-9]{9}(-?[A-Z0-9])?$", re.IGNORECASE)
HEX = re.compile(r"^[0-9A-F]+$", re.IGNORECASE)

# Types whose idToken carries no identity to check (free charging, key switches).
UNCHECKED_TYPES = frozenset({"NoAuthorization"})


async def authorize_id_token(hub: Hub, station_id: str, id_token: dict[str, Any]) -> Authorization:
    """Authorise a snake_case IdTokenType."""
    if id_token.get("type") in UNCHECKED_TYPES:
        return Authorization("Accepted")
    return await authorize(hub, station_id, id_token["id_token"])


def id_token_info(auth: Authorization) -> dict[str, Any]:
    """IdTokenInfoType (snake_case, as the ``ocpp`` dataclasses take it)."""
    info: dict[str, Any] = {"status": auth.status}
    if auth.expiry_date is not None:
        info["cache_expiry_date_time"] = format_timestamp(auth.expiry_date)
    if auth.parent_id_tag:
        info["group_id_token"] = {"id_token": auth.parent_id_tag, "type": "Central"}
    return info


def guess_id_token_type(id_tag: str) -> str:
    """The 2.0.1 idToken type of a 1.6-style idTag string (the core stores only the string):
    eMAID by its syntax, RFID UIDs by their length (ISO 14443: 4, 7 or 10 bytes; ISO 15693:
    8 bytes), else Central (a token the hub issued)."""
    if HEX.match(id_tag) and len(id_tag) in (8, 14, 20):
        return "ISO14443"
    if HEX.match(id_tag) and len(id_tag) == 16:
        return "ISO15693"
    if EMAID.match(id_tag):
        return "eMAID"
    return "Central"
