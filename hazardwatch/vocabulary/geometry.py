"""Tank geometry: how liquid level, volume and wetted area relate, vectorised over tanks.

Three shapes, chosen from `Unit.type` (see `shape_of`):

- vertical cylinder (`tank`, `vertical`, `vertical_tank`): V(h) = A·h with A = capacity / height;
- horizontal cylinder (`horizontal`, `horizontal_tank`, `bullet`): the circular segment's
  area times the length, V(h) = L·(R²·acos((R−h)/R) − (R−h)·√(2Rh − h²)), with D = height
  and L = capacity / (π D² / 4);
- sphere (`sphere`): V(h) = π h² (3R − h) / 3 with D = height.

The height is the top of the level sensor's range (in metres): the simulated tank overflows
there. Where a unit has no level sensor in metres, the height comes from the capacity (a
vertical tank as tall as it is wide, a sphere of that volume, a bullet four diameters long).
The nominal capacity always rules: a sphere whose range gives a slightly different geometric
volume is scaled so V(top) = capacity, keeping the sphere's curve.

>>> g = Geometry.build([SPHERE], [2.0], [4 * math.pi / 3])  # unit sphere, R = 1 m
>>> [round(float(x), 6) for x in g.volume(np.array([0.0, 1.0, 2.0]))]
[0.0, 2.094395, 4.18879]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VERTICAL, HORIZONTAL, SPHERE = 0, 1, 2
_BISECT_STEPS = 14  # brackets the angle to 4e-4 rad ...
_NEWTON_STEPS = 3  # ... and Newton takes it to rounding


def shape_of(unit_type: str, pressurised: bool) -> int:
    """The shape code for a unit's `type`: one naming a sphere, a horizontal vessel (or
    bullet) or a vertical tank (e.g. `sphere`, `horizontal_tank`, `vertical`).

    A pressurised unit of the generic type `tank` is a horizontal bullet: pressurised liquefied
    gas is stored in spheres or bullets, never in vertical atmospheric tanks.
    """
    name = unit_type.strip().lower()
    if "sphere" in name:
        return SPHERE
    if "horizontal" in name or "bullet" in name:
        return HORIZONTAL
    if "vertical" in name:
        return VERTICAL
    return HORIZONTAL if pressurised and name == "tank" else VERTICAL


def height_from_capacity(shape: int, capacity_m3: float) -> float:
    """A believable height (m) for a tank with no level range in metres."""
    if shape == SPHERE:
        return (6.0 * capacity_m3 / math.pi) ** (1 / 3)
    if shape == HORIZONTAL:  # L = 4 D
        return (capacity_m3 / math.pi) ** (1 / 3)
    return (4.0 * capacity_m3 / math.pi) ** (1 / 3)  # H = D


@dataclass(frozen=True, eq=False)
class Geometry:
    """Shape, height (m) and capacity (m³) per tank, with the level-volume relations."""

    shape: np.ndarray  # int8
    height_m: np.ndarray
    capacity_m3: np.ndarray
    radius_m: np.ndarray  # footprint radius (vertical), R (sphere, horizontal)
    length_m: np.ndarray  # horizontal cylinders only, else 0
    scale: np.ndarray  # capacity / geometric volume of the shape

    @classmethod
    def build(cls, shape: list[int], height_m: list[float], capacity_m3: list[float]) -> Geometry:
        s = np.asarray(shape, dtype=np.int8)
        h = np.maximum(np.asarray(height_m, dtype=np.float64), 1e-3)
        cap = np.asarray(capacity_m3, dtype=np.float64)
        r = h / 2.0
        radius = np.where(s == VERTICAL, np.sqrt(cap / (math.pi * h)), r)
        length = np.where(s == HORIZONTAL, cap / (math.pi * r * r), 0.0)
        sphere_v = 4.0 / 3.0 * math.pi * r**3
        scale = np.where(s == SPHERE, cap / sphere_v, 1.0)
        return cls(s, h, cap, radius, length, scale)

    @property
    def n(self) -> int:
        return int(self.shape.size)

    def take(self, rows: np.ndarray) -> Geometry:
        """The tanks `rows` (indices) only."""
        return Geometry(self.shape[rows], self.height_m[rows], self.capacity_m3[rows],
                        self.radius_m[rows], self.length_m[rows], self.scale[rows])  # fmt: skip

    def volume(self, level_m: np.ndarray) -> np.ndarray:
        """Liquid volume (m³) at `level_m` per tank, clipped to 0..height."""
        h = np.clip(level_m, 0.0, self.height_m)
        r = self.height_m / 2.0
        vertical = self.capacity_m3 * h / self.height_m
        sphere = self.scale * math.pi * h * h * (3.0 * r - h) / 3.0
        horizontal = self.length_m * _segment_area(r, h)
        return np.select([self.shape == SPHERE, self.shape == HORIZONTAL], [sphere, horizontal],
                         vertical)  # fmt: skip

    def level(self, volume_m3: np.ndarray) -> np.ndarray:
        """Liquid level (m) holding `volume_m3` per tank: the inverse of `volume`."""
        frac = np.clip(volume_m3 / self.capacity_m3, 0.0, 1.0)
        out = self.height_m * frac
        sphere = self.shape == SPHERE
        if sphere.any():
            # (h/R − 1) solves x³ − 3x + (2 − 4·frac) = 0; its root in [−1, 1] is the
            # trigonometric one (Viète, with the sign of x flipped), so no iteration.
            q = 2.0 - 4.0 * frac[sphere]
            x = 2.0 * np.cos(np.arccos(np.clip(-q / 2.0, -1.0, 1.0)) / 3.0 - 2.0 * math.pi / 3.0)
            out[sphere] = (1.0 - x) * self.height_m[sphere] / 2.0
        horizontal = self.shape == HORIZONTAL
        if horizontal.any():
            # The segment's central angle θ solves θ − sin θ = 2π·frac (monotonic in θ): a
            # few whole-array bisection steps bracket it, Newton steps inside the bracket
            # finish it; never diverging at empty or full.
            target = 2.0 * math.pi * frac[horizontal]
            lo, hi = np.zeros(target.size), np.full(target.size, 2.0 * math.pi)
            for _ in range(_BISECT_STEPS):
                mid = 0.5 * (lo + hi)
                below = mid - np.sin(mid) < target
                lo = np.where(below, mid, lo)
                hi = np.where(below, hi, mid)
            theta = 0.5 * (lo + hi)
            for _ in range(_NEWTON_STEPS):
                slope = np.maximum(1.0 - np.cos(theta), 1e-12)
                theta = np.clip(theta - (theta - np.sin(theta) - target) / slope, lo, hi)
            out[horizontal] = self.height_m[horizontal] / 2.0 * (1.0 - np.cos(theta / 2.0))
        return out

    def wetted_area(self, level_m: np.ndarray) -> np.ndarray:
        """Shell area (m²) in contact with the liquid: where heat enters and leaves it."""
        h = np.clip(level_m, 0.0, self.height_m)
        r = self.height_m / 2.0
        vertical = math.pi * self.radius_m**2 + 2.0 * math.pi * self.radius_m * h
        sphere = self.scale ** (2 / 3) * 2.0 * math.pi * r * h
        angle = 2.0 * np.arccos(np.clip((r - h) / r, -1.0, 1.0))  # wetted arc of the circle
        horizontal = self.length_m * r * angle + 2.0 * _segment_area(r, h)
        return np.select([self.shape == SPHERE, self.shape == HORIZONTAL], [sphere, horizontal],
                         vertical)  # fmt: skip

    def shell_area(self) -> np.ndarray:
        """Whole outer area (m²)."""
        return self.wetted_area(self.height_m)


def _segment_area(r: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Area (m²) of a circle of radius r filled to depth h."""
    d = r - h
    chord_half = np.sqrt(np.maximum(2 * r * h - h * h, 0.0))
    return r * r * np.arccos(np.clip(d / r, -1.0, 1.0)) - d * chord_half
