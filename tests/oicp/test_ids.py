"""OICP identifiers: what an OCPP id tag becomes towards Hubject, and the eMAID check digit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oicp.ids import EVCO_ID, emaid_check_digit, evco_id_for, identification_for_tag

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@pytest.mark.parametrize(("emaid", "check"), [
    # Examples published with the eMI3 check digit algorithm.
    ("NN123ABCDEFGHI", "T"), ("FRXYZ123456789", "2"), ("ITA1B2C3E4F5G6", "4"),
    ("ESZU8WOX834H1D", "R"), ("PT73902837ABCZ", "Z"), ("DE83DUIEN83QGZ", "D"),
    ("DE83DUIEN83ZGQ", "M"), ("DE8AA001234567", "0"),
])
def test_check_digit_examples(emaid: str, check: str) -> None:
    assert emaid_check_digit(emaid) == check
    assert emaid_check_digit(emaid.lower()) == check


@given(st.text(ALNUM, min_size=14, max_size=14), st.integers(0, 13), st.sampled_from(ALNUM))
def test_check_digit_catches_every_single_character_error(emaid: str, at: int,
                                                          other: str) -> None:
    changed = emaid[:at] + other + emaid[at + 1:]
    if changed != emaid:
        assert emaid_check_digit(changed) != emaid_check_digit(emaid)


@given(st.text(ALNUM, min_size=14, max_size=14), st.integers(0, 12))
def test_check_digit_catches_adjacent_swaps(emaid: str, at: int) -> None:
    swapped = emaid[:at] + emaid[at + 1] + emaid[at] + emaid[at + 2:]
    if swapped != emaid:
        assert emaid_check_digit(swapped) != emaid_check_digit(emaid)


def test_malformed_emaid_is_refused() -> None:
    for bad in ("DE8EOCAB12345", "DE8EOCAB12345CX", "DE8EO-AB12345C", "DE8EOÄB12345CC"):
        with pytest.raises(ValueError):
            emaid_check_digit(bad)


def test_evco_ids_towards_hubject() -> None:
    # Complete EvcoIDs pass (upper-cased), with or without separators.
    assert evco_id_for("de-8eo-cab12345c-7") == "DE-8EO-CAB12345C-7"
    # A contract certificate's 14-character eMAID gets its check digit.
    assert evco_id_for("DE8EOCAB12345C") == "DE8EOCAB12345CT"
    assert evco_id_for("DE-8EO-CAB12345C") == "DE8EOCAB12345CT"
    assert EVCO_ID.match(evco_id_for("DE8EOCAB12345C") or "")
    # OICP's pattern wants the instance to start with C (DIN SPEC 91286): no EvcoID otherwise.
    assert evco_id_for("DE8EOXAB12345C") is None
    assert evco_id_for("not an id") is None


def test_identification_for_tag() -> None:
    assert identification_for_tag("04a2b3c4d5e6f7") == {
        "RFIDMifareFamilyIdentification": {"UID": "04A2B3C4D5E6F7"}}
    assert identification_for_tag("DE8EOCAB12345C") == {
        "PlugAndChargeIdentification": {"EvcoID": "DE8EOCAB12345CT"}}
    assert identification_for_tag("driver-42") is None
