"""The weather over the park: air temperature, sunshine and a wandering wind.

Times are epoch seconds; the park's clock is UTC+8 (China Standard Time) by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SUNRISE_H, SUNSET_H = 6.0, 18.0  # local solar hours; the simulator has no seasons of daylight


@dataclass(frozen=True, slots=True)
class Climate:
    """The day's weather: a daily cosine of air temperature, sunshine, a prevailing wind.

    Wind direction is where it blows FROM, degrees clockwise from north (meteorological).
    """

    mean_c: float = 15.0
    amplitude_c: float = 6.0
    peak_hour: float = 14.0  # local time
    utc_offset_h: float = 8.0  # China Standard Time
    solar_peak_w_m2: float = 800.0  # clear-sky irradiance at solar noon
    wind_from_deg: float = 135.0  # a south-easterly, the summer monsoon of the east coast
    wind_speed_ms: float = 2.5
    wind_sway_deg: float = 25.0  # standard deviation of the direction around the prevailing
    wind_gust_ms: float = 0.8  # standard deviation of the speed
    wind_tau_s: float = 600.0  # correlation time of the wander

    def local_hour(self, ts: float) -> float:
        return (ts / 3600.0 + self.utc_offset_h) % 24.0

    def ambient_c(self, ts: float) -> float:
        """Air temperature at epoch seconds `ts`, in degC.

        >>> Climate().ambient_c(6 * 3600.0)  # 06:00 UTC is 14:00 at UTC+8
        21.0
        """
        hour = self.local_hour(ts)
        return self.mean_c + self.amplitude_c * math.cos(2 * math.pi * (hour - self.peak_hour) / 24)

    def solar_w_m2(self, ts: float) -> float:
        """Irradiance on a horizontal surface (W/m²): a half sine from sunrise to sunset.

        >>> Climate().solar_w_m2(4 * 3600.0)  # 12:00 local
        800.0
        """
        hour = self.local_hour(ts)
        if not SUNRISE_H < hour < SUNSET_H:
            return 0.0
        day = (hour - SUNRISE_H) / (SUNSET_H - SUNRISE_H)
        return self.solar_peak_w_m2 * math.sin(math.pi * day)


class Wind:
    """A wind that wanders around the prevailing one: two Ornstein-Uhlenbeck processes.

    Direction and speed revert to the climate's with correlation time `wind_tau_s`; two
    normal draws per step from the farm's generator, so a seed gives one history.
    """

    def __init__(self, climate: Climate, rng: np.random.Generator) -> None:
        self.climate = climate
        self._rng = rng
        self.from_deg = climate.wind_from_deg + climate.wind_sway_deg * float(rng.standard_normal())
        self.speed_ms = max(
            0.5, climate.wind_speed_ms + climate.wind_gust_ms * float(rng.standard_normal())
        )

    def step(self, dt_s: float) -> None:
        c = self.climate
        a = math.exp(-dt_s / c.wind_tau_s)
        shock = math.sqrt(1.0 - a * a)
        d_dir, d_speed = self._rng.standard_normal(2).tolist()
        self.from_deg = c.wind_from_deg + (self.from_deg - c.wind_from_deg) * a
        self.from_deg += c.wind_sway_deg * shock * d_dir
        speed = c.wind_speed_ms + (self.speed_ms - c.wind_speed_ms) * a
        self.speed_ms = max(0.5, speed + c.wind_gust_ms * shock * d_speed)

    @property
    def toward(self) -> tuple[float, float]:
        """Unit vector (east, north) the air moves toward."""
        rad = math.radians(self.from_deg + 180.0)
        return math.sin(rad), math.cos(rad)
