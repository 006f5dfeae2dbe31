"""OICP identifiers and the patterns the 2.3 data types define for them."""

from __future__ import annotations

import re
import uuid

EVSE_ID = re.compile(
    r"^(([A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?E[A-Za-z0-9\*]{1,30})|(\+?[0-9]{1,3}\*[0-9]{3}\*[0-9\*]{1,32}))$")
SESSION_ID = re.compile(r"^[A-Za-z0-9]{8}(-[A-Za-z0-9]{4}){3}-[A-Za-z0-9]{12}$")
EVCO_ID = re.compile(
    r"^(([A-Za-z]{2}\-?[A-Za-z0-9]{3}\-?C[A-Za-z0-9]{8}\-?[\d|A-Za-z])|"
    r"([A-Za-z]{2}[\*|\-]?[A-Za-z0-9]{3}[\*|\-]?[A-Za-z0-9]{6}[\*|\-]?[\d|X]))$")
RFID_UID = re.compile(r"^([0-9A-F]{8,8}|[0-9A-F]{14,14}|[0-9A-F]{20,20})$")


def is_evse_id(value: object) -> bool:
    return isinstance(value, str) and EVSE_ID.match(value) is not None


def is_session_id(value: object) -> bool:
    return isinstance(value, str) and SESSION_ID.match(value) is not None


def is_evco_id(value: object) -> bool:
    return isinstance(value, str) and EVCO_ID.match(value) is not None


def new_session_id() -> str:
    return str(uuid.uuid4())


def identification_for_tag(id_tag: str) -> dict[str, object] | None:
    """The OICP Identification for an OCPP id tag the hub does not know, or None when the tag
    is neither an RFID UID (hex, 4/7/10 bytes) nor an EvcoID (e.g. Plug&Charge contracts)."""
    uid = id_tag.strip().upper()
    if RFID_UID.match(uid):
        return {"RFIDMifareFamilyIdentification": {"UID": uid}}
    evco = evco_id_for(id_tag)
    if evco is not None:
        return {"PlugAndChargeIdentification": {"EvcoID": evco}}
    return None


# ISO 15118 eMAID without its check digit, as contract certificates and the Plug&Charge
# ecosystem (OPCP "Handling of IDs") carry it: country, provider, 9-character instance.
_EMAID_14 = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[A-Z0-9]{9}$")


def evco_id_for(id_tag: str) -> str | None:
    """``id_tag`` as an OICP EvcoID (upper case), or None if it cannot be one. A 14-character
    eMAID gets its check digit appended: Hubject's EvcoID pattern requires it."""
    tag = id_tag.strip().upper()
    if EVCO_ID.match(tag):
        return tag
    bare = tag.replace("-", "")
    if _EMAID_14.match(bare):
        evco = bare + emaid_check_digit(bare)
        if EVCO_ID.match(evco):
            return evco
    return None


# The eMI3 / ISO 15118-1 check digit of a contract id. Each of the 14 characters (value v:
# 0-9, then A-Z as 10-35) is a binary pair q = divmod(v // 9, 2) and a ternary pair
# r = divmod(v % 9, 3). The check character is the one whose pairs are
#   sum_i q_i * P1^(i+1)  (mod 2)  and  (sum_i r_i * P2^(i+1)) * -P2^-15  (mod 3),
# P1 = [[0, 1], [1, 1]], P2 = [[0, 1], [1, 2]]; -P2^-15 (mod 3) = [[0, 2], [2, 1]].
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_Matrix = tuple[tuple[int, int], tuple[int, int]]


def _times(a: _Matrix, b: _Matrix, modulus: int) -> _Matrix:
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(2)) % modulus for j in range(2))
                 for i in range(2))  # type: ignore[return-value]


def _powers(p: _Matrix, modulus: int, count: int) -> list[_Matrix]:
    powers = [p]
    while len(powers) < count:
        powers.append(_times(powers[-1], p, modulus))
    return powers


_P1_POWERS = _powers(((0, 1), (1, 1)), 2, 14)
_P2_POWERS = _powers(((0, 1), (1, 2)), 3, 14)
_MINUS_P2_INV_15 = ((0, 2), (2, 1))


def emaid_check_digit(emaid: str) -> str:
    """The check character of a 14-character eMAID (letters and digits, no separators)."""
    code = emaid.upper()
    if len(code) != 14 or any(c not in _ALPHABET for c in code):
        raise ValueError("an eMAID without check digit has 14 letters or digits")
    q_sum, r_sum = [0, 0], [0, 0]
    for char, p1, p2 in zip(code, _P1_POWERS, _P2_POWERS, strict=True):
        k, j = divmod(_ALPHABET.index(char), 9)
        q, r = divmod(k, 2), divmod(j, 3)
        for col in range(2):
            q_sum[col] += q[0] * p1[0][col] + q[1] * p1[1][col]
            r_sum[col] += r[0] * p2[0][col] + r[1] * p2[1][col]
    m = _MINUS_P2_INV_15
    t1 = (q_sum[0] % 2, q_sum[1] % 2)
    t2 = ((r_sum[0] * m[0][0] + r_sum[1] * m[1][0]) % 3,
          (r_sum[0] * m[0][1] + r_sum[1] * m[1][1]) % 3)
    return _ALPHABET[9 * (2 * t1[0] + t1[1]) + 3 * t2[0] + t2[1]]


def evco_of(identification: dict[str, object] | None) -> str | None:
    """The contract id (EvcoID) an Identification carries, if any."""
    for kind in ("RemoteIdentification", "PlugAndChargeIdentification", "QRCodeIdentification",
                 "RFIDIdentification"):
        value = (identification or {}).get(kind)
        if isinstance(value, dict) and isinstance(value.get("EvcoID"), str):
            return value["EvcoID"]
    return None


def uid_of(identification: dict[str, object] | None) -> str | None:
    for kind in ("RFIDMifareFamilyIdentification", "RFIDIdentification"):
        value = (identification or {}).get(kind)
        if isinstance(value, dict) and isinstance(value.get("UID"), str):
            return value["UID"]
    return None
