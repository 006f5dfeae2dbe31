"""The write API: validation naming the field, reference checks, fuse tree edits, chargers and
ports, and concurrent edits that neither interleave nor overwrite blindly."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.harness import RunningHub
from tests.sites_api.builders import full_site, fuse_tree, register_station
from tests.sites_api.conftest import Api


@pytest.fixture
async def site(hub: RunningHub, admin: Api) -> dict[str, Any]:
    await register_station(hub, "CP-1", connectors=2)
    await register_station(hub, "CP-2")  # registered, no connector reported yet
    status, created, _ = await admin.post("/sites", full_site("CP-1"))
    assert status == 201, created
    return created


SITE_FIELD_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": None}, "timezone"),
    ({"country": "DE"}, "country"),
    ({"latitude": 91}, "latitude"),
    ({"longitude": "east"}, "longitude"),
    ({"status": "GONE"}, "status"),
    ({"reference_id": 5}, "reference_id"),
    ({"colour": "red"}, "colour"),
]

NESTED_ERRORS: list[tuple[Callable[[dict[str, Any]], Any], str]] = [
    (lambda b: b["chargers"][0].update(ocpp_id="NOPE"), "chargers[0].ocpp_id"),
    (lambda b: b["chargers"][0].update(type="Level 3"), "chargers[0].type"),
    (lambda b: b["chargers"][0]["ports"][0].update(evse_id="not an evse"),
     "chargers[0].ports[0].evse_id"),
    (lambda b: b["chargers"][0]["ports"][0].update(port_number=3),
     "chargers[0].ports[0].port_number"),
    (lambda b: b["chargers"][0]["ports"][0].update(connector_type="Type 9"),
     "chargers[0].ports[0].connector_type"),
    (lambda b: b["chargers"][0]["ports"].append(dict(b["chargers"][0]["ports"][0], evse_id=None)),
     "chargers[0].ports[1].port_number"),
    (lambda b: b["fuse_tree"][0]["children"][0]["parameters"]["connectors"][0].update(
        charging_station_id="NOPE"),
     "fuse_tree[0].children[0].parameters.connectors[0].charging_station_id"),
    (lambda b: b["fuse_tree"][0]["children"][0]["parameters"]["connectors"][0].update(
        connector_id="9"),
     "fuse_tree[0].children[0].parameters.connectors[0].connector_id"),
    (lambda b: b["fuse_tree"][0]["parameters"]["meter"].update(is_producer="yes"),
     "fuse_tree[0].parameters.meter.is_producer"),
    (lambda b: b["fuse_tree"][0]["parameters"].update(limit=-1), "fuse_tree[0].parameters.limit"),
    (lambda b: b["local_controller"].pop("name"), "local_controller.name"),
]


async def test_bad_site_fields_are_named(admin: Api, site: dict[str, Any]) -> None:
    for patch, field in SITE_FIELD_ERRORS:
        status, body, _ = await admin.patch(f"/sites/{site['id']}", patch)
        assert status == 400, (patch, body)
        assert body["error"] == "invalid_request" and body["field"] == field, (patch, body)
        assert body["detail"].startswith(field + ":")


async def test_bad_nested_input_is_named_and_nothing_is_written(hub: RunningHub,
                                                                admin: Api) -> None:
    await register_station(hub, "CP-9", connectors=2)
    for change, field in NESTED_ERRORS:
        body = full_site("CP-9")
        change(body)
        status, error, _ = await admin.post("/sites", body)
        assert status == 400, (field, error)
        assert error["field"] == field, error
    _, page, _ = await admin.get("/sites")
    assert page["data"] == []


async def test_evse_ids_and_stations_are_unique(admin: Api, site: dict[str, Any]) -> None:
    evse_id = site["chargers"][0]["ports"][0]["evse_id"]
    status, body, _ = await admin.post(f"/sites/{site['id']}/chargers", {
        "name": "C2", "type": "Level 2", "ocpp_id": "CP-2",
        "ports": [{"name": "P", "port_number": 1, "connector_type": "J1772",
                   "evse_id": evse_id}]})
    assert status == 400 and body["field"] == "ports[0].evse_id"
    status, body, _ = await admin.post(f"/sites/{site['id']}/chargers", {
        "name": "C2", "type": "Level 2", "ocpp_id": "CP-1"})
    assert status == 400 and body["field"] == "ocpp_id" and "charger" in body["detail"]


async def test_chargers_and_ports_lifecycle(admin: Api, site: dict[str, Any]) -> None:
    base = f"/sites/{site['id']}"
    # CP-2 has reported no connector yet, so any port number is accepted.
    status, after, headers = await admin.post(f"{base}/chargers", {
        "name": "C2", "type": "Level 2", "ocpp_id": "CP-2", "manufacturer": "Override",
        "ports": [{"name": "P1", "port_number": 7, "connector_type": "NACS"}]})
    assert status == 201 and after["version"] == 2
    charger_id = headers["Location"].rsplit("/", 1)[1]
    charger = next(c for c in after["chargers"] if c["id"] == charger_id)
    assert charger["manufacturer"] == "Override" and charger["number_of_ports"] == 1

    status, after, headers = await admin.post(f"{base}/chargers/{charger_id}/ports", {
        "name": "P2", "port_number": 8, "connector_type": "TYPE2", "maximum_power_kw": 22,
        "power_type": "AC_3_PHASE", "evse_id": "DE*ABC*E42*8"})
    assert status == 201
    port_id = headers["Location"].rsplit("/", 1)[1]
    charger = next(c for c in after["chargers"] if c["id"] == charger_id)
    assert charger["power_sharing"] is True and charger["number_of_ports"] == 2

    status, body, _ = await admin.patch(f"{base}/chargers/{charger_id}/ports/{port_id}",
                                        {"port_number": 7})
    assert status == 400 and body["field"] == "port_number"
    status, after, _ = await admin.patch(f"{base}/chargers/{charger_id}/ports/{port_id}",
                                         {"maximum_power_kw": 11, "evse_id": None})
    assert status == 200
    port = next(p for c in after["chargers"] if c["id"] == charger_id for p in c["ports"]
                if p["id"] == port_id)
    assert port["maximum_power_kw"] == 11 and port["evse_id"] is None

    # Re-linking to a station that reported connectors checks the ports against them.
    status, body, _ = await admin.patch(f"{base}/chargers/{charger_id}",
                                        {"ocpp_id": "CP-1"})
    assert status == 400 and body["field"] == "ocpp_id"
    status, after, _ = await admin.patch(f"{base}/chargers/{charger_id}",
                                         {"ocpp_id": None, "name": "C2b"})
    assert status == 200
    assert next(c for c in after["chargers"] if c["id"] == charger_id)["ocpp_id"] is None

    assert (await admin.delete(f"{base}/chargers/{charger_id}/ports/{port_id}"))[0] == 200
    assert (await admin.delete(f"{base}/chargers/{charger_id}/ports/{port_id}"))[0] == 404
    status, after, _ = await admin.delete(f"{base}/chargers/{charger_id}")
    assert status == 200 and len(after["chargers"]) == 1
    assert (await admin.delete(f"{base}/chargers/{charger_id}"))[0] == 404
    other = site["chargers"][0]["id"]
    assert (await admin.patch(f"/sites/999/chargers/{other}", {"name": "x"}))[0] == 404


async def test_local_controller_and_site_fields(admin: Api, site: dict[str, Any]) -> None:
    base = f"/sites/{site['id']}"
    status, after, _ = await admin.put(f"{base}/local-controller",
                                       {"name": "LC 2", "serial_no": "SN-2"})
    assert status == 200
    assert after["local_controller"]["name"] == "LC 2"
    assert after["local_controller"]["device_id"] is None
    assert (await admin.delete(f"{base}/local-controller"))[1]["local_controller"] is None
    assert (await admin.delete(f"{base}/local-controller"))[0] == 404

    status, after, headers = await admin.patch(base, {"name": "Renamed", "timezone": "UTC",
                                                      "address": None, "city": "Berlin"})
    assert status == 200 and after["name"] == "Renamed" and after["timezone"] == "UTC"
    assert after["address"] == "Fake St 1234, 90802 Berlin, CA, USA"
    assert headers["ETag"] == f'"{after["version"]}"'

    assert (await admin.delete(base))[0] == 204
    assert (await admin.get(base))[0] == 404
    assert (await admin.delete(base))[0] == 404


async def test_fuse_tree_replace_and_node_edits(admin: Api, site: dict[str, Any]) -> None:
    base = f"/sites/{site['id']}"
    tree = site["fuse_tree"]
    # What a GET returns can be sent back as is (ids and depth are read-only).
    status, after, _ = await admin.put(f"{base}/fuse-tree", tree)
    assert status == 200
    assert _strip(after["fuse_tree"]) == _strip(tree)

    root = after["fuse_tree"][0]
    status, after, headers = await admin.post(f"{base}/fuse-tree/nodes", {
        "parent_id": root["id"], "type": "fuse", "parameters": {"name": "Sub", "order": -1},
        "children": [{"type": "connector_group", "parameters": {"name": "Leaf"}}]})
    assert status == 201
    node_id = headers["Location"].rsplit("/", 1)[1]
    root = after["fuse_tree"][0]
    assert [c["parameters"]["name"] for c in root["children"]] == ["Sub", "Charger group"]
    sub = root["children"][0]
    assert sub["id"] == node_id and sub["children"][0]["parameters"]["depth"] == "2"

    # Partial parameter edit keeps the rest; connectors are replaced when given.
    status, after, _ = await admin.patch(f"{base}/fuse-tree/nodes/{node_id}", {
        "parameters": {"limit": 40, "connectors": [
            {"connector_id": 2, "charging_station_id": "CP-1"}]}})
    assert status == 200
    sub = after["fuse_tree"][0]["children"][0]
    assert sub["parameters"]["name"] == "Sub" and sub["parameters"]["limit"] == 40
    assert sub["parameters"]["connectors"][0]["connector_id"] == "2"

    # Moves: to the top level works; under its own descendant does not.
    leaf_id = sub["children"][0]["id"]
    status, body, _ = await admin.patch(f"{base}/fuse-tree/nodes/{node_id}",
                                        {"parent_id": leaf_id})
    assert status == 400 and body["field"] == "parent_id"
    status, after, _ = await admin.patch(f"{base}/fuse-tree/nodes/{node_id}",
                                         {"parent_id": None})
    assert status == 200 and len(after["fuse_tree"]) == 2

    status, after, _ = await admin.delete(f"{base}/fuse-tree/nodes/{node_id}")
    assert status == 200 and len(after["fuse_tree"]) == 1
    assert (await admin.delete(f"{base}/fuse-tree/nodes/{leaf_id}"))[0] == 404
    status, body, _ = await admin.post(f"{base}/fuse-tree/nodes",
                                       {"parent_id": "999999", "type": "fuse"})
    assert status == 400 and body["field"] == "parent_id"
    status, body, _ = await admin.put(f"{base}/fuse-tree", {"type": "fuse"})
    assert status == 400 and body["field"] == "fuse_tree"
    deep: dict[str, Any] = {"type": "fuse"}
    for _ in range(20):
        deep = {"type": "fuse", "children": [deep]}
    status, body, _ = await admin.put(f"{base}/fuse-tree", [deep])
    assert status == 400 and "deeper" in body["detail"]


MANAGED = ("fallback_status", "pending_fallback_value")


def _strip(nodes: list[dict[str, Any]]) -> list[Any]:
    """A tree without its generated ids and what the load manager writes on its own time: the
    live values (not stored) and a fallback's progress, which can move between two reads."""
    return [(n["type"], {k: v for k, v in n["parameters"].items()
                         if k not in ("connectors", "live", *MANAGED)},
             [{k: v for k, v in c.items() if k not in ("id", "live")}
              for c in n["parameters"]["connectors"]],
             _strip(n["children"])) for n in nodes]


async def test_if_match_refuses_stale_edits(admin: Api, site: dict[str, Any]) -> None:
    base = f"/sites/{site['id']}"
    status, _, headers = await admin.get(base)
    etag = headers["ETag"]
    assert (await admin.patch(base, {"name": "first"}, headers={"If-Match": etag}))[0] == 200
    status, body, _ = await admin.patch(base, {"name": "second"}, headers={"If-Match": etag})
    assert status == 412 and body["current_version"] == 2
    status, body, _ = await admin.patch(base, {"name": "x"}, headers={"If-Match": "three"})
    assert status == 400 and body["field"] == "If-Match"
    status, after, _ = await admin.get(base)
    assert after["name"] == "first"


async def test_concurrent_tree_replacements_never_interleave(
        admin: Api, site: dict[str, Any]) -> None:
    base = f"/sites/{site['id']}"
    trees = []
    for n in range(6):
        tree = fuse_tree("CP-1")
        tree[0]["parameters"]["name"] = f"writer {n}"
        tree[0]["children"] = [copy.deepcopy(tree[0]["children"][0]) for _ in range(n + 1)]
        for i, child in enumerate(tree[0]["children"]):
            child["parameters"] = {**child["parameters"], "name": f"writer {n} child {i}"}
        trees.append(tree)
    results = await asyncio.gather(*(admin.put(f"{base}/fuse-tree", t) for t in trees))
    assert all(status == 200 for status, _, _ in results)
    assert sorted(body["version"] for _, body, _ in results) == list(range(2, 8))

    _, final, _ = await admin.get(base)
    assert final["version"] == 7
    # Exactly one writer's whole tree, not a mix of several.
    root = final["fuse_tree"]
    assert len(root) == 1
    writer = root[0]["parameters"]["name"]
    n = int(writer.split()[1])
    assert [c["parameters"]["name"] for c in root[0]["children"]] == [
        f"{writer} child {i}" for i in range(n + 1)]

    # Same with If-Match: of several edits based on one version, exactly one wins.
    etag = f'"{final["version"]}"'
    results = await asyncio.gather(*(
        admin.patch(f"/sites/{site['id']}/fuse-tree/nodes/{root[0]['id']}",
                    {"parameters": {"limit": 10 + i}}, headers={"If-Match": etag})
        for i in range(4)))
    assert sorted(status for status, _, _ in results) == [200, 412, 412, 412]


async def test_rfid_cards_belong_to_one_organisation(hub: RunningHub, admin: Api,
                                                     token_api: Any) -> None:
    await admin.post("/sites", {"name": "S", "organization_id": "org-a"})
    await admin.post("/sites", {"name": "S", "organization_id": "org-b"})
    writer_a = await token_api("org-a", "sites:write")
    writer_b = await token_api("org-b", "sites:write")
    status, card, _ = await writer_a.put("/rfid-cards/TAG-9", {"name": "A's card"})
    assert status == 200 and card["id_tag"] == "TAG-9"
    # B names the same tag for itself: its own card, and no word about A's.
    status, card_b, _ = await writer_b.put("/rfid-cards/TAG-9", {"name": "mine"})
    assert status == 200 and card_b["id"] != card["id"] and card_b["name"] == "mine"
    status, body, _ = await admin.delete("/rfid-cards/TAG-9")
    assert status == 400 and body["field"] == "organization_id"
    assert (await writer_b.delete("/rfid-cards/TAG-9"))[0] == 204
    assert (await writer_b.delete("/rfid-cards/TAG-9"))[0] == 404
    status, body, _ = await admin.put("/rfid-cards/TAG-8", {"name": "x"})
    assert status == 400 and body["field"] == "organization_id"
    assert (await writer_a.delete("/rfid-cards/TAG-9"))[0] == 204
    status, org, _ = await admin.put("/organisations/org-a", {"name": "Org A GmbH"})
    assert status == 200 and org == {"id": "org-a", "name": "Org A GmbH"}
    _, page, _ = await writer_a.get("/sites")
    assert page["data"][0]["organization"]["name"] == "Org A GmbH"


async def test_port_evse_ids_join_the_stations_certificate_identities(
        hub: RunningHub, site: dict[str, Any]) -> None:
    """The core's certificate store accepts a port's EvseID as its station's identity."""
    from hub.certificate_store import DatabaseCertificateStore

    evse_id = site["chargers"][0]["ports"][0]["evse_id"]
    identities = await DatabaseCertificateStore(hub.hub.sessions).station_identities("CP-1")
    assert identities is not None and evse_id in identities
