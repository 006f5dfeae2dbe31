"""The load planner's rules on small sites where the right answer is known by hand."""

from __future__ import annotations

import pytest

from sites_api.load.model import Connector, Meter, Node, Tree, charging_levels, compile_tree
from sites_api.load.planner import FIXED, QUEUED, Session, node_loads, plan_site_limits

UNEVEN = (6.0, 16.0, 17.0, 32.0)


def _amps(plan):
    return {key: p.amps for key, p in plan.connectors.items()}


def _site(limit, *connectors, meter=None):
    return Tree((Node("root", None, limit, meter=meter),), tuple(connectors))


def test_a_producer_adds_headroom_and_a_consumer_takes_it():
    solar = Meter(is_producer=True, max_possible_current=50)
    tree = _site(32.0, Connector("a", "root"), meter=solar)
    assert _amps(plan_site_limits(tree, {"a": Session()}, {"root": 0}))["a"] == 32.0
    tree = Tree((Node("root", None, 32.0), Node("pv", "root", meter=solar),
                 Node("sub", "root", 20.0)), (Connector("a", "sub"), Connector("b", "root")))
    plan = plan_site_limits(tree, {"a": Session(0), "b": Session(1)}, {"pv": 10})
    # 42 A available at the root: the sub-fuse stops a at 20, b gets the rest.
    assert _amps(plan) == {"a": 20.0, "b": 22.0}
    heater = Meter(is_consumer=True, max_possible_current=63)
    tree = _site(32.0, Connector("a", "root"), Connector("b", "root"), meter=heater)
    assert _amps(plan_site_limits(tree, {"a": Session(0), "b": Session(1)},
                                  {"root": 20})) == {"a": 6.0, "b": 6.0}


def test_a_transformer_ratio_scales_the_reading_and_a_missing_one_falls_back():
    ct = Meter(is_consumer=True, primary_transformer_ratio=200, secondary_transformer_ratio=5,
               fallback_value=16, max_possible_current=100)
    tree = _site(40.0, Connector("a", "root"), meter=ct)
    # 0.5 A on the secondary side is 20 A on the primary.
    assert _amps(plan_site_limits(tree, {"a": Session()}, {"root": 0.5}))["a"] == 20.0
    assert _amps(plan_site_limits(tree, {"a": Session()}, {"root": None}))["a"] == 24.0
    # Per-phase readings: the busiest phase binds a three-phase connector.
    assert _amps(plan_site_limits(tree, {"a": Session()}, {"root": (0.1, 0.6, 0.2)}))["a"] == 16.0


def test_single_phase_connectors_on_different_phases_do_not_compete():
    tree = _site(16.0, *(Connector(p, "root", (p,)) for p in (1, 2, 3)), Connector(4, "root", (1,)))
    plan = plan_site_limits(tree, {1: Session(0), 2: Session(1), 3: Session(2), 4: Session(3)})
    assert _amps(plan) == {1: 8.0, 2: 16.0, 3: 16.0, 4: 8.0}
    assert node_loads(compile_tree(tree), plan)["root"] == (16.0, 16.0, 16.0)


def test_a_session_that_cannot_get_its_minimum_waits_in_the_queue():
    tree = _site(20.0, *(Connector(c, "root") for c in "abcd"))
    plan = plan_site_limits(tree, {c: Session(i) for i, c in enumerate("abcd")})
    assert _amps(plan) == {"a": 7.0, "b": 7.0, "c": 6.0, "d": 0.0}
    assert plan.queue == ("d",) and plan.connectors["d"].state == QUEUED


def test_a_higher_priority_is_served_first_and_stations_out_of_reach_count_at_their_maximum():
    tree = _site(32.0, Connector("low", "root", priority=0), Connector("high", "root", priority=1),
                 Connector("offline", "root", levels=charging_levels([6, 10])))
    plan = plan_site_limits(tree, {"low": Session(0), "high": Session(1, demand=16)},
                            fixed=["offline"])
    assert _amps(plan) == {"low": 6.0, "high": 16.0, "offline": 10.0}
    assert plan.connectors["offline"].state == FIXED


def test_equal_sessions_end_within_one_uneven_level():
    tree = _site(24.0, Connector("a", "root", levels=UNEVEN), Connector("b", "root", levels=UNEVEN))
    plan = plan_site_limits(tree, {"a": Session(0), "b": Session(1)})
    # a may rise to 16 (+10 fits), b cannot; a must not go on to 17 past b's next level.
    assert _amps(plan) == {"a": 16.0, "b": 6.0}


def test_what_fairness_holds_back_is_not_given_to_a_lower_priority():
    tree = _site(25.0, Connector("a", "root", priority=1, levels=UNEVEN),
                 Connector("b", "root", priority=1, levels=UNEVEN),
                 Connector("low", "root", levels=(2.0, 3.0)))
    plan = plan_site_limits(tree, {"a": Session(0), "b": Session(1), "low": Session(2)})
    assert _amps(plan) == {"a": 16.0, "b": 6.0, "low": 0.0}


def test_demand_below_the_limit_is_given_to_the_others():
    tree = _site(32.0, *(Connector(c, "root") for c in "abc"))
    plan = plan_site_limits(tree, {"a": Session(0, demand=6.5), "b": Session(1), "c": Session(2)})
    assert _amps(plan) == {"a": 6.0, "b": 13.0, "c": 13.0}


def test_load_settings_are_read_like_every_section() -> None:
    from hub.config import ConfigError
    from sites_api.load.settings import load_settings

    settings = load_settings({"hysteresis": "2", "enabled": "false", "stack_level": 3})
    assert (settings.hysteresis, settings.enabled, settings.stack_level) == (2.0, False, 3)
    settings = load_settings({"replan_interval": "0", "settle": "30", "demand_margin": 1,
                              "meter_max_age": "5", "fallback_stack_level": "0"})
    assert (settings.replan_interval, settings.settle, settings.demand_margin,
            settings.meter_max_age, settings.fallback_stack_level) == (0.0, 30.0, 1.0, 5.0, 0)
    for bad in ({"hysteresis": "x"}, {"min_interval": -1}, {"enabled": "maybe"},
                {"stack_level": 1.5}, {"nonsense": 1}, {"meter_max_age": 0},
                {"settle": -1}, {"fallback_stack_level": 0.5}):
        with pytest.raises(ConfigError):
            load_settings(bad)
