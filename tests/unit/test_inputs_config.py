"""The site config's `inputs:` section: which inputs are on and how their names map to tags."""

from __future__ import annotations

import pytest

from hazardwatch.vocabulary.config import ConfigError, parse_site

SITE = """
park: {name: Demo}
enterprises:
  - id: e1
    name: Demo Co
    hazard_sources:
      - id: hs1
        name: Tank farm
        grade: 3
        responsible: {main: A, technical: B, operation: C}
        units:
          - id: T1
            substance: methanol
            capacity_m3: 100
            sensors:
              - {tag: T1-LT, kind: level, unit: m, range: [0, 10], limits: {hh: 9, h: 8}}
              - {tag: T1-TT, kind: temperature, unit: degC, range: [-20, 80]}
"""


def test_without_inputs_only_wire_format_v1_is_on() -> None:
    inputs = parse_site(SITE).inputs
    assert inputs.wire_v1 and inputs.thingsboard is None and inputs.sparkplug is None


def test_thingsboard_and_sparkplug_maps_are_read() -> None:
    site = parse_site(
        SITE
        + """
inputs:
  wire_v1: false
  thingsboard:
    gateways:
      - token: A1_TOKEN
        devices:
          T-101: {level: T1-LT, temperature: T1-TT}
  sparkplug:
    rebirth_every_s: 5
    nodes:
      - group: Plant1
        node: Edge1
        metrics: {Tank1/Level: T1-LT}
        devices:
          PLC1: {Tank1/Temp: T1-TT}
"""
    )
    tb, spb = site.inputs.thingsboard, site.inputs.sparkplug
    assert not site.inputs.wire_v1
    assert tb is not None and tb.gateways[0].devices == {
        "T-101": {"level": "T1-LT", "temperature": "T1-TT"}
    }
    assert tb.gateways[0].name == "A1_TOKEN"
    assert spb is not None and spb.rebirth_every_s == 5
    assert spb.nodes[0].metrics == {"Tank1/Level": "T1-LT"}
    assert spb.nodes[0].devices == {"PLC1": {"Tank1/Temp": "T1-TT"}}


def test_unknown_tags_shared_device_names_and_all_off_are_reported() -> None:
    with pytest.raises(ConfigError) as err:
        parse_site(
            SITE
            + """
inputs:
  wire_v1: false
  thingsboard:
    gateways:
      - token: A
        devices: {T-101: {level: T1-LX}}
      - token: B
        devices: {T-101: {temperature: T1-TT}}
  sparkplug:
    nodes:
      - {group: Plant1, node: Edge1, metrics: {a: T1-LT}}
      - {group: Plant1, node: Edge1, metrics: {b: T1-TT}}
""",
            source="park.yaml",
        )
    text = str(err.value)
    assert "inputs.thingsboard.gateways[0].devices.T-101.level: tag 'T1-LX'" in text
    assert "did you mean 'T1-LT'" in text
    assert "inputs.thingsboard.gateways[1].devices.T-101: device 'T-101' is also under" in text
    assert "duplicate Sparkplug edge node 'Plant1/Edge1'" in text
    with pytest.raises(ConfigError, match="every input is off"):
        parse_site(SITE + "inputs: {wire_v1: false}\n")


def test_wire_format_v1_cannot_share_a_root_with_another_input() -> None:
    clash = SITE.replace("park: {name: Demo}", "park: {name: Demo, root_topic: v1}")
    with pytest.raises(ConfigError, match=r"park\.root_topic: 'v1' is where the thingsboard"):
        parse_site(clash + "inputs: {thingsboard: {gateways: [{token: A}]}}\n")
    assert parse_site(clash).inputs.thingsboard is None  # v1 alone may use it
