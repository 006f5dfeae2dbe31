"""`pnc-hub ocpp actions`: who answers and who sends each OCPP action, read from the code."""

from __future__ import annotations

import json

from ocpp.v16.enums import Action as Action16
from ocpp.v21.enums import Action as Action21
from ocpp.v201.enums import Action as Action201

from hub.ocpp_server.session16 import StationSession16
from hub.ocpp_server.session21 import StationSession21
from hub.ocpp_server.session201 import StationSession201
from tests.harness.process import cli

IN, OUT = "station->hub", "hub->station"


def actions() -> list[dict[str, str]]:
    shown = cli("ocpp", "actions", "--json")
    assert shown.returncode == 0, shown.stderr
    return [json.loads(line) for line in shown.stdout.splitlines()]


def answered(rows: list[dict[str, str]], version: str, direction: str,
             action: str) -> list[dict[str, str]]:
    return [r for r in rows if (r["version"], r["direction"], r["action"]) ==
            (version, direction, action)]


def test_known_rows() -> None:
    rows = actions()
    [boot] = answered(rows, "1.6", IN, "BootNotification")
    assert (boot["module"], boot["handler"]) == ("hub.ocpp_server.session16",
                                                 "StationSession16.on_boot_notification")
    # The Plug&Charge feature answers SignCertificate instead of the core's Rejected.
    for version, fallback in (("1.6", "session16"), ("2.0.1", "session201")):
        [sign] = answered(rows, version, IN, "SignCertificate")
        assert sign["module"] == "pnc.adapters", sign
        assert f"hub.ocpp_server.{fallback}." in sign["note"], sign
    # 2.0.1 Authorize: the feature takes only calls with certificate data.
    [authorize] = answered(rows, "2.0.1", IN, "Authorize")
    assert authorize["module"] == "pnc.adapters"
    assert "some calls stay in the core" in authorize["note"]
    [sign201] = answered(rows, "2.0.1", IN, "SignCertificate")
    assert "stay in the core" not in sign201["note"]
    tunnel = answered(rows, "1.6", IN,
                      "DataTransfer org.openchargealliance.iso15118pnc/Get15118EVCertificate")
    assert [t["module"] for t in tunnel] == ["pnc.adapters"]
    for version in ("1.6", "2.0.1"):
        [reset] = answered(rows, version, OUT, "Reset")
        assert (reset["module"], reset["handler"]) == ("hub.services.station_commands",
                                                       "reset")
    assert {r["module"] for r in answered(rows, "2.0.1", OUT, "CertificateSigned")} == {
        "pnc.charger"}
    assert answered(rows, "1.6", OUT, "RemoteStartTransaction")
    assert answered(rows, "2.0.1", OUT, "RequestStartTransaction")
    assert not answered(rows, "1.6", OUT, "RequestStartTransaction")


def test_every_row_is_an_ocpp_action_and_every_core_handler_is_listed() -> None:
    rows = actions()
    known = {"1.6": {a.value for a in Action16}, "2.0.1": {a.value for a in Action201},
             "2.1": {a.value for a in Action21}}
    for row in rows:
        assert row["action"].split()[0] in known[row["version"]], row
    for version, session_class in (("1.6", StationSession16), ("2.0.1", StationSession201),
                                   ("2.1", StationSession21)):
        # The session's own dispatch map (ocpp's create_route_map), not the table's reading.
        handled = {a for a, route in session_class.routes().items() if "_on_action" in route}
        listed = {r["action"] for r in rows if r["version"] == version and r["direction"] == IN}
        assert handled and handled <= listed, handled - listed


def test_table_output() -> None:
    shown = cli("ocpp", "actions")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "DIRECTION", "ACTION", "MODULE", "HANDLER", "NOTE"]
    assert any(line.split()[:4] == ["1.6", IN, "BootNotification", "hub.ocpp_server.session16"]
               for line in lines)


def test_every_2_0_1_action_is_served() -> None:
    """The whole 2.0.1 action enum against the table: each action is answered by a handler
    (station->hub) or sent by a service (hub->station); the ones the generic command path
    sends each have their documented route /api/ocpp/{Action}."""
    from hub.app import create_app
    from hub.config import load_config
    from hub.openapi import build_document
    from hub.services.ocpp_commands import COMMANDS

    rows = actions()
    served = {r["action"].split()[0] for r in rows if r["version"] == "2.0.1"}
    assert {a.value for a in Action201} - served == set()
    paths = build_document(create_app(load_config(env={}))).get("paths", {})
    for action, versions in COMMANDS.items():
        assert f"/api/ocpp/{action}" in paths, action
        for version in versions:
            [row] = [r for r in answered(rows, version, OUT, action)
                     if r["module"] == "hub.services.ocpp_commands"]
            assert row["handler"] == "request_of"


def test_2_1_is_served_on_the_2_0_1_handlers() -> None:
    rows = actions()
    known = {a.value for a in Action21}
    for row in rows:
        if row["version"] == "2.1":
            assert row["action"].split()[0] in known, row
    handled = {a for a, route in StationSession21.routes().items() if "_on_action" in route}
    listed = {r["action"] for r in rows if r["version"] == "2.1" and r["direction"] == IN}
    assert {"BootNotification", "TransactionEvent", "Authorize"} <= handled <= listed
    # Plug&Charge's 2.0.1 handlers answer 2.1 stations too.
    [sign] = answered(rows, "2.1", IN, "SignCertificate")
    assert sign["module"] == "pnc.adapters"
    [reset] = answered(rows, "2.1", OUT, "Reset")
    assert reset["module"] == "hub.services.station_commands"
