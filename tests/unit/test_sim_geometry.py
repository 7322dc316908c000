"""Tank geometry: level and volume of vertical, horizontal and spherical tanks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hazardwatch.vocabulary.geometry import HORIZONTAL, SPHERE, VERTICAL, Geometry, shape_of


def test_sphere_volume_is_empty_half_and_full_at_bottom_middle_and_top() -> None:
    r = 7.85
    full = 4 / 3 * math.pi * r**3
    g = Geometry.build([SPHERE] * 3, [2 * r] * 3, [full] * 3)
    v = g.volume(np.array([0.0, r, 2 * r]))
    assert v == pytest.approx([0.0, full / 2, full], rel=1e-12, abs=1e-9)
    # V = pi h^2 (3R - h) / 3 at a quarter of the height.
    h = r / 2
    quarter = g.volume(np.array([h, h, h]))[0]
    assert quarter == pytest.approx(math.pi * h * h * (3 * r - h) / 3, rel=1e-12)
    assert quarter / full == pytest.approx(0.15625)  # 5/32 of a sphere below a quarter height


def test_horizontal_cylinder_volume_is_empty_half_and_full_and_a_segment_between() -> None:
    r, length = 1.3, 9.4
    full = math.pi * r * r * length
    g = Geometry.build([HORIZONTAL] * 3, [2 * r] * 3, [full] * 3)
    assert g.volume(np.array([0.0, r, 2 * r])) == pytest.approx([0.0, full / 2, full], abs=1e-9)
    # At a quarter of the diameter the segment's angle is 120 degrees: (θ - sin θ) / 2π of full.
    theta = 2 * math.pi / 3
    expected = full * (theta - math.sin(theta)) / (2 * math.pi)
    assert g.volume(np.full(3, r / 2))[0] == pytest.approx(expected, rel=1e-12)


def test_level_inverts_volume_for_every_shape_to_a_micrometre() -> None:
    g = Geometry.build([VERTICAL, HORIZONTAL, SPHERE], [18.0, 2.6, 15.7], [5000.0, 50.0, 2000.0])
    for frac in np.linspace(0.0, 1.0, 41):
        level = frac * g.height_m
        assert g.level(g.volume(level)) == pytest.approx(level, abs=1e-6)


def test_a_sphere_holds_its_nominal_capacity_at_the_top_of_its_range() -> None:
    g = Geometry.build([SPHERE], [15.7], [2000.0])  # 15.7 m geometric sphere is 2026 m³
    assert g.volume(np.array([15.7]))[0] == pytest.approx(2000.0)
    assert g.volume(np.array([7.85]))[0] == pytest.approx(1000.0)


def test_unit_types_choose_shapes_and_pressurised_tanks_are_bullets() -> None:
    assert shape_of("sphere", True) == SPHERE
    assert shape_of("horizontal", False) == HORIZONTAL
    assert shape_of("tank", False) == VERTICAL
    assert shape_of("vertical", True) == VERTICAL
    assert shape_of("tank", True) == HORIZONTAL
    assert shape_of("horizontal_tank", True) == HORIZONTAL
    assert shape_of("vertical_tank", False) == VERTICAL


def test_wetted_area_grows_with_level() -> None:
    g = Geometry.build([VERTICAL, HORIZONTAL, SPHERE], [18.0, 2.6, 15.7], [5000.0, 50.0, 2000.0])
    low, high = g.wetted_area(0.2 * g.height_m), g.wetted_area(0.8 * g.height_m)
    assert np.all(high > low)
    assert np.all(g.wetted_area(g.height_m) == pytest.approx(g.shell_area()))
