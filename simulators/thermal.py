"""Liquid temperature of every tank: air, sun, coils and fire, through the liquid's inertia.

Per tank, one heat balance on the well-mixed liquid, advanced exactly over each step:

    C dT/dt = UA (T_sol − T) + P_heat − P_cool + P_fire

- C = ρc · V: heat capacity of the liquid (J/K), so a fuller tank is slower;
- UA = U · (A_wet + 0.1 A_dry): the wetted shell exchanges with the air, the vapour space
  a tenth as well; U = 30 W/m²K, an effective outdoor coefficient (wind convection plus
  radiation), which makes a half-full 5,000 m³ tank lag the air by about two days (τ = C/UA);
- T_sol = T_air + 0.005 K·m²/W · G: the sol-air temperature of a white shell (absorptance 0.1
  averaged over the shell, outside film 20 W/m²K), +4 °C in full sun;
- heating coils on products whose temperature band's L is above the average air (held at
  mid-band) or within reach of the coldest air (frost protection, 5 °C above L); cooling on
  products whose H is below the average air (refrigerated, mid-band), else water spray 5 °C
  below H where the hottest air would reach H, and always on pressurised vessels (the summer
  spray of LPG spheres). Each is sized to move a full tank 0.5 °C/h, on a thermostat with
  ±0.5 °C hysteresis;
- fire: the API 521 heat input to a wetted vessel, Q = 43,200 · F · A_wet^0.82 W (A in m²,
  adequate drainage and fire fighting), times the exposed fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hazardwatch.vocabulary.geometry import Geometry
from simulators.weather import Climate

U_EFF_W_M2K = 30.0
VAPOUR_SPACE_COUPLING = 0.1
SOLAR_C_PER_W_M2 = 0.005
COIL_RATE_C_PER_H = 0.5
HYSTERESIS_C = 0.5
SPRAY_BELOW_H_C = 5.0
API521_W = 43_200.0
MIN_FILL = 0.02  # the heat capacity never falls below 2 % of a full tank (the heel)


@dataclass(frozen=True, slots=True)
class Product:
    """Liquid properties that matter here: density and volumetric heat capacity."""

    density_kg_m3: float
    rho_c_j_m3k: float


GENERIC = Product(800.0, 1.8e6)
PRODUCTS: dict[str, Product] = {
    "methanol": Product(790.0, 1.98e6),
    "benzene": Product(877.0, 1.53e6),
    "toluene": Product(867.0, 1.48e6),
    "xylene": Product(864.0, 1.50e6),
    "gasoline": Product(740.0, 1.63e6),
    "diesel": Product(840.0, 1.85e6),
    "sour water": Product(1000.0, 4.15e6),
    "water": Product(1000.0, 4.18e6),
    "lpg": Product(540.0, 1.35e6),
    "propane": Product(500.0, 1.30e6),
    "butane": Product(580.0, 1.40e6),
    "ammonia": Product(610.0, 2.90e6),
    "chlorine": Product(1410.0, 1.33e6),
    "ethanol": Product(789.0, 1.92e6),
}


def product(name: str) -> Product:
    return PRODUCTS.get(name.strip().lower(), GENERIC)


class Thermal:
    """Liquid temperature per tank, with its coils, spray, fire and failures as arrays."""

    def __init__(
        self,
        geometry: Geometry,
        products: list[Product],
        bands: np.ndarray,
        pressurised: np.ndarray,
        climate: Climate,
        rng: np.random.Generator,
        start_ts: float,
        volume_m3: np.ndarray,
        level_m: np.ndarray,
    ) -> None:
        """`bands` is (n, 2): the L..H band of each tank's temperature sensor, NaN if none."""
        n = geometry.n
        self.geometry = geometry
        self._shell = geometry.shell_area()
        self.climate = climate
        self.rho_c = np.array([p.rho_c_j_m3k for p in products], dtype=np.float64)
        self.bias_c = rng.uniform(-1.0, 1.0, n)  # each tank's own microclimate
        c = climate
        solar_mean = SOLAR_C_PER_W_M2 * c.solar_peak_w_m2 / math.pi  # a half sine, half a day
        cold = c.mean_c - c.amplitude_c - 2.0  # with room for each tank's microclimate
        hot = c.mean_c + c.amplitude_c + SOLAR_C_PER_W_M2 * c.solar_peak_w_m2 + 2.0
        lo, hi = bands[:, 0], bands[:, 1]
        mid = 0.5 * (lo + hi)
        with np.errstate(invalid="ignore"):
            # A product kept warmer than the average air is a heated product (mid-band); one
            # whose L only the coldest air reaches gets frost protection, 5 degC above L.
            self.heat_set = np.select(
                [lo > c.mean_c, lo > cold], [mid, np.minimum(lo + SPRAY_BELOW_H_C, mid)], np.nan
            )
            # Mirror image for cooling: refrigerated below the average air, else water spray
            # 5 degC below H on hot days; pressurised vessels always have their spray.
            spray = hi - SPRAY_BELOW_H_C
            self.cool_set = np.select(
                [hi < c.mean_c, (hi < hot) | (pressurised & ~np.isnan(hi))], [mid, spray], np.nan
            )
        full_c = self.rho_c * geometry.capacity_m3
        self.heat_w = np.where(np.isnan(self.heat_set), 0.0, full_c * COIL_RATE_C_PER_H / 3600)
        self.cool_w = np.where(np.isnan(self.cool_set), 0.0, full_c * COIL_RATE_C_PER_H / 3600)
        self.heat_factor = np.ones(n)  # 0: heating failed; >1 with `runaway`: stuck on
        self.cool_factor = np.ones(n)  # 0: cooling failed
        self.runaway = np.zeros(n, dtype=bool)  # heating on regardless of the thermostat
        self.fire_fraction = np.zeros(n)  # exposed fraction of the wetted area, 0..1
        # Start on the steady daily cycle the lag would have settled into.
        tau = self.tau_s(volume_m3, level_m)
        omega = 2 * math.pi / 86400.0
        hour = c.local_hour(start_ts)
        phase = 2 * math.pi * (hour - c.peak_hour) / 24 - np.arctan(omega * tau)
        gain = 1.0 / np.sqrt(1.0 + (omega * tau) ** 2)
        t = c.mean_c + solar_mean + self.bias_c + c.amplitude_c * gain * np.cos(phase)
        jitter = rng.uniform(-HYSTERESIS_C, HYSTERESIS_C, n)
        with np.errstate(invalid="ignore"):
            t = np.where(t < self.heat_set, self.heat_set + jitter, t)
            t = np.where(t > self.cool_set, self.cool_set + jitter, t)
        self.liquid_c = t
        self.heater_on = rng.random(n) < 0.5
        self.cooler_on = rng.random(n) < 0.5

    def tau_s(
        self, volume_m3: np.ndarray, level_m: np.ndarray, wet: np.ndarray | None = None
    ) -> np.ndarray:
        """Time constant (s) of each tank's liquid toward its equilibrium: C / UA."""
        g = self.geometry
        heat_cap = self.rho_c * np.maximum(volume_m3, MIN_FILL * g.capacity_m3)
        return heat_cap / self._ua(level_m, wet)

    def _ua(self, level_m: np.ndarray, wet: np.ndarray | None = None) -> np.ndarray:
        if wet is None:
            wet = self.geometry.wetted_area(level_m)
        shell = self._shell
        return np.maximum(U_EFF_W_M2K * (wet + VAPOUR_SPACE_COUPLING * (shell - wet)), 1e-6)

    def step(self, t0: float, dt_s: float, volume_m3: np.ndarray, level_m: np.ndarray) -> None:
        if dt_s <= 0:
            return
        c, t = self.climate, self.liquid_c
        mid = t0 + dt_s / 2
        sol_air = c.ambient_c(mid) + self.bias_c + SOLAR_C_PER_W_M2 * c.solar_w_m2(mid)
        with np.errstate(invalid="ignore"):
            self.heater_on = np.where(t < self.heat_set - HYSTERESIS_C, True,
                                      np.where(t > self.heat_set + HYSTERESIS_C, False,
                                               self.heater_on))  # fmt: skip
            self.cooler_on = np.where(t > self.cool_set + HYSTERESIS_C, True,
                                      np.where(t < self.cool_set - HYSTERESIS_C, False,
                                               self.cooler_on))  # fmt: skip
        heating = np.where(self.heater_on | self.runaway, self.heat_w * self.heat_factor, 0.0)
        cooling = np.where(self.cooler_on, self.cool_w * self.cool_factor, 0.0)
        wet = self.geometry.wetted_area(level_m)
        fire = API521_W * self.fire_fraction * np.maximum(wet, 1.0) ** 0.82
        ua = self._ua(level_m, wet)
        tau = self.rho_c * np.maximum(volume_m3, MIN_FILL * self.geometry.capacity_m3) / ua
        target = sol_air + (heating - cooling + fire) / ua
        self.liquid_c = t + (target - t) * -np.expm1(-dt_s / tau)
