"""Syntax of the identifiers that ISO 15118 puts into certificate common names.

EVSE ID (ISO 15118-2 Annex H): <Country><S><Operator><S>E<Outlet>, separator ``*`` optional.
SECC ID (ISO 15118-20): <Country><S><Operator><S>S<S><Controller><S><Check digit>, sep. ``-``.
eMAID (ISO 15118-2, normalised as in Hubject OPCP): <Country><S><Provider><S><Instance>[<S><Check>].
PCID (VDE-AR-E 2802-100-1): 17 or 18 alphanumerics.
Chargers are not consistent about separators and case, so comparisons use ``normalise_id``.
"""

from __future__ import annotations

import re

_EVSE_ID = re.compile(r"^[A-Z]{2}([*-]?)[A-Z0-9]{3}\1E[A-Z0-9*]{1,30}$", re.IGNORECASE)
_SECC_ID = re.compile(r"^[A-Z]{2}([*-]?)[A-Z0-9]{3}\1S\1[A-Z0-9]{1,32}(\1[A-Z0-9])?$",
                      re.IGNORECASE)
_EMAID = re.compile(r"^[A-Z]{2}(-?)[A-Z0-9]{3}\1[A-Z0-9]{9}(\1[A-Z0-9])?$", re.IGNORECASE)
_PCID = re.compile(r"^[A-Z0-9]{17,18}$", re.IGNORECASE)


def is_evse_id(value: str) -> bool:
    return bool(_EVSE_ID.match(value))


def is_secc_id(value: str) -> bool:
    return bool(_SECC_ID.match(value))


def is_secc_common_name(value: str) -> bool:
    """A SECC leaf's CN is the SECC ID (-20) or the EVSE ID (-2)."""
    return is_evse_id(value) or is_secc_id(value)


def is_emaid(value: str) -> bool:
    return bool(_EMAID.match(value))


def is_pcid(value: str) -> bool:
    return bool(_PCID.match(value))


def normalise_id(value: str) -> str:
    """Upper case without separators: the form in which two IDs are compared."""
    return value.replace("*", "").replace("-", "").strip().upper()
