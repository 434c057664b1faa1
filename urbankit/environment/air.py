"""An ESTIMATE of the annual-mean roadside NOx and NO2 of each street from its NOx emission.

Two documented screening steps, every coefficient in ``urbankit/data/air_no2.csv`` with its source
(:func:`air_coefficients`):

1. **Roadside NOx increment** with the Dutch Standaardrekenmethode 1 (SRM1, the "CAR II" street model
   of the Regeling beoordeling luchtkwaliteit 2007, article 71 and Bijlage 1), made for exactly this: the annual mean
   contribution of an urban street to the concentration at a distance ``x`` from its axis::

       increment = 0.62 * E * s_c(x) * F_b * theta            (ug/m3)

   ``E`` is the street's NOx emission in ug per metre per second (g/km/day x 1000 / 86 400),
   ``s_c(x) = a x^2 + b x + c`` up to 30 m and ``alpha x^-0.747`` beyond (to 60 m for the open and
   basic types; canyons and one-sided streets end at 30 m) with ``a``, ``b``, ``c``, ``alpha`` of the
   street type (:data:`STREET_TYPES`: ``open``, ``basic``, ``canyon``, ``one_sided``), ``F_b`` the
   tree factor (1, 1.25, 1.5) and ``theta`` the regional wind-speed factor (1 at the reference).
2. **NO2 from NOx** with the Romberg et al. (1996) form refitted by Düring et al. (2011), applied to
   the total NOx at the street (urban background + increment)::

       NO2 = A NOx / (NOx + B) + C NOx                        (ug/m3)

   The urban background NOx is the one that this conversion turns into the given background NO2
   (:func:`nox_from_no2`), so the background NO2 (a parameter, default an assumption of 30 ug/m3:
   give the city's measured urban-background annual mean) is met exactly on a street without traffic.

Sources (each row of ``air_no2.csv`` carries its ``source``, the ``quote`` of the line its value was
read from and that line's ``address``; :func:`air_coefficients`):

* **Method, checked**: the Regeling beoordeling luchtkwaliteit 2007 (BWBR0022817) article 71(1) prescribes
  "de in bijlage 1 opgenomen standaardrekenmethode 1" for roads; its technical rules are van Velze K,
  Wesseling J (2015), *Technische beschrijving van standaardrekenmethode 1 (SRM1)*, RIVM briefrapport
  2014-0127.
* **SRM1 coefficients, checked** against the text of Rbl 2007 Bijlage 1 (as consolidated on 2014-10-08, in
  the statengeneraal/laws-markdown copy; quotes and line addresses in the data file): the calibration
  factor ``0.62``, the 30 m break, ``a``, ``b``, ``c`` and ``alpha`` per street type (wegtype 4, 1, 2, 3 =
  open, basic, canyon, one_sided), the 30/60 m largest distances and the tree factors 1/1.25/1.5. **Not
  checked**: the exponent ``-0.747`` of the branch beyond 30 m, which the Regeling gives only as an image; it
  is transcribed from E. Barratt's open SRM1 implementation (github.com/EddyTheB/SRM1-MATLAB, 2016), which
  holds the same values for everything checked.
* **NOx -> NO2 constants, unverified**: Romberg et al. (1996) ``A = 103, B = 130, C = 0.005`` and Düring et
  al. (2011, Meteorol. Z. 20:67-73) ``A = 29, B = 35, C = 0.217`` as commonly cited; only Düring's abstract
  (an adjustment of the Romberg approach to 2000-2006 data) was retrievable.
* **Urban background, an assumption**: 30 ug/m3 between the WHO 2021 annual guideline level (10 ug/m3) and
  the EU annual limit value (40 ug/m3), not a measurement of any city. Give the city's measured
  urban-background annual mean as ``background_no2_ugm3``; the superblock effects summary states the value
  used (``no2_background_ugm3``) and its source (``no2_background_source``).

Limits (carried in :data:`AIR_CAVEAT`): a screening model, not a dispersion model. One street type,
distance and tree factor for every street unless given per street; no contribution from neighbouring
streets (they are in the background, which stays the same before and after); no meteorology beyond
one wind factor; annual means only; the emission is COPERT hot exhaust of a documented fleet
(:mod:`urbankit.environment.emissions`). Roadside increments measured in European cities vary widely
and do not always follow traffic emissions (Macdonald et al. 2021, Atmos. Chem. Phys. 21:4007): read the
changes as an order of magnitude, not as a concentration map.
"""

from __future__ import annotations

import csv
import logging
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError

logger = logging.getLogger(__name__)

__all__ = [
    "AIR_CAVEAT",
    "CONVERSIONS",
    "STREET_TYPES",
    "TREE_FACTORS",
    "USER_BACKGROUND_SOURCE",
    "air_coefficients",
    "background_no2",
    "no2_from_nox",
    "nox_from_no2",
    "nox_increment",
    "srm1_dilution",
    "street_no2",
]

#: the limits of the NO2 estimate, carried by every result that uses it
AIR_CAVEAT = (
    "NO2 ESTIMATE: roadside NOx increment of each street from its NOx emission with the Dutch SRM1 "
    "screening model (Rbl 2007 Bijlage 1; coefficients checked against the Regeling's text except the exponent "
    "-0.747, an image there; one street type, distance and tree factor for all streets), NO2 from total "
    "NOx with the Romberg/Duering conversion (constants as commonly cited, not checked against the papers), "
    "over an urban background that is an assumption unless given (background_no2_ugm3). No neighbouring "
    "streets, meteorology or chemistry beyond that; roadside increments measured in European cities vary "
    "widely (Macdonald et al. 2021). Use the changes as an order of magnitude."
)
#: the source recorded for a background given as ``background_no2_ugm3``
USER_BACKGROUND_SOURCE = "given by the user (background_no2_ugm3)"
#: g/km/day -> ug/m/s: 1e6 ug/g / 1000 m/km / 86 400 s/day
_G_KM_DAY_TO_UG_M_S = 1e6 / 1000.0 / 86_400.0


@lru_cache(maxsize=1)
def air_coefficients() -> pd.DataFrame:
    """The coefficients of the NOx/NO2 estimate, each with its source (``urbankit/data/air_no2.csv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``key``, ``variant`` ("" for any), ``value``, ``unit``, ``source`` (a value that could
        not be checked against the primary text says "unverified"; the default background says
        "ASSUMPTION"), ``note``, ``quote`` (the line of text the value was read from) and ``address``
        (where that line is).
    """
    text = (files("urbankit") / "data" / "air_no2.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))
    df = pd.DataFrame(rows)
    df["value"] = pd.to_numeric(df["value"])
    return df


def _value(key: str, variant: str = "") -> float:
    co = air_coefficients()
    rows = co[(co["key"] == key) & (co["variant"] == variant)]
    if rows.empty:
        known = sorted(co.loc[co["key"] == key, "variant"])
        raise InvalidOptionError(f"{variant!r} is not one of {known} (urbankit/data/air_no2.csv, {key}).")
    return float(rows["value"].iloc[0])


def _variants(key: str) -> tuple[str, ...]:
    co = air_coefficients()
    return tuple(co.loc[co["key"] == key, "variant"])


#: SRM1 street types: ``open`` (type 1), ``basic`` (type 2), ``canyon`` (3a/3b), ``one_sided`` (type 4)
STREET_TYPES = _variants("srm1_a")
#: SRM1 tree factors F_b by name
TREE_FACTORS = {v: _value("srm1_tree_factor", v) for v in _variants("srm1_tree_factor")}
#: NOx -> NO2 conversions
CONVERSIONS = _variants("no2_conversion_a")


def _array(name: str, value, *, positive: bool = False) -> np.ndarray:
    try:
        x = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InvalidOptionError(
            f"{name} must be a number or an array of numbers, not {type(value).__name__}."
        ) from None
    if np.any(~np.isfinite(x)) or np.any(x < 0) or (positive and np.any(x == 0)):
        got = f" (got {float(x)!r})" if x.ndim == 0 else ""
        raise InvalidOptionError(f"{name} must be finite and {'>' if positive else '>='} 0{got}.")
    return x


def srm1_dilution(distance_m, *, street_type: str = "canyon") -> np.ndarray:
    """SRM1 dilution factor ``s_c`` at a distance from the road axis (Rbl 2007 Bijlage 1).

    Parameters
    ----------
    distance_m : float or array
        Distance of the receptor from the road axis, m, > 0 and at most the type's largest distance
        (60 m for ``open`` and ``basic``, 30 m for ``canyon`` and ``one_sided``).
    street_type : {"open", "basic", "canyon", "one_sided"}, default "canyon"

    Returns
    -------
    numpy.ndarray
        ``s_c`` (dimensionless), shape of ``distance_m``.

    Raises
    ------
    InvalidOptionError
        An unknown street type or a distance outside the type's range.
    """
    if street_type not in STREET_TYPES:
        raise InvalidOptionError(f"street_type={street_type!r} is not one of {STREET_TYPES}.")
    x = _array("distance_m", distance_m, positive=True)
    top = _value("srm1_max_distance_m", street_type)
    if np.any(x > top):
        raise InvalidOptionError(
            f"distance_m must be at most {top:g} m for street_type={street_type!r} (SRM1's range for that type)."
        )
    a, b, c = (_value(k, street_type) for k in ("srm1_a", "srm1_b", "srm1_c"))
    alpha = _value("srm1_alpha", street_type)
    brk = _value("srm1_breakpoint_m")
    far = alpha * np.power(np.maximum(x, brk), _value("srm1_power"))
    return np.where(x <= brk, a * x**2 + b * x + c, far)


def _tree_factor(tree_factor) -> np.ndarray:
    if isinstance(tree_factor, str):
        if tree_factor not in TREE_FACTORS:
            raise InvalidOptionError(f"tree_factor={tree_factor!r} is not one of {sorted(TREE_FACTORS)} or a number.")
        return np.asarray(TREE_FACTORS[tree_factor])
    f = np.asarray(tree_factor, dtype=float)
    if np.any(~np.isin(f, list(TREE_FACTORS.values()))):
        raise InvalidOptionError(f"tree_factor must be one of SRM1's {sorted(set(TREE_FACTORS.values()))}.")
    return f


def nox_increment(
    nox_g_per_km_day,
    *,
    street_type: str = "canyon",
    distance_m=10.0,
    tree_factor=1.0,
    wind_factor: float = 1.0,
) -> np.ndarray:
    """Annual-mean roadside NOx increment of a street from its NOx emission (SRM1), ug/m3.

    ``0.62 * E * s_c(distance_m) * F_b * theta`` with ``E`` in ug/m/s (see the module docstring).

    Parameters
    ----------
    nox_g_per_km_day : float or array
        NOx emitted per km of street per day, both directions, g/km/day.
    street_type : {"open", "basic", "canyon", "one_sided"}, default "canyon"
        SRM1 street type (:data:`STREET_TYPES`); ``canyon`` for streets lined on both sides by
        buildings closer than about 1.5 times their height (Barcelona's Eixample: 20 m streets).
    distance_m : float or array, default 10
        Distance from the road axis, m (10 m: a facade of a 20 m wide street).
    tree_factor : {1, 1.25, 1.5} or {"none", "some", "dense"}, default 1
        SRM1 tree factor ``F_b``.
    wind_factor : float, default 1
        SRM1 regional wind-speed factor ``theta`` (1 at the reference wind speed, larger where the
        mean wind is weaker).

    Returns
    -------
    numpy.ndarray
        ug/m3, shape of the broadcast inputs.

    Raises
    ------
    InvalidOptionError
        Negative or non-finite emissions, a bad street type, distance, tree factor or wind factor.
    """
    e = _array("nox_g_per_km_day", nox_g_per_km_day) * _G_KM_DAY_TO_UG_M_S
    theta = float(_array("wind_factor", wind_factor, positive=True))
    sc = srm1_dilution(distance_m, street_type=street_type)
    return _value("srm1_constant") * e * sc * _tree_factor(tree_factor) * theta


def _conversion(conversion: str) -> tuple[float, float, float]:
    if conversion not in CONVERSIONS:
        raise InvalidOptionError(f"conversion={conversion!r} is not one of {CONVERSIONS}.")
    return tuple(_value(f"no2_conversion_{k}", conversion) for k in "abc")


def no2_from_nox(nox_ugm3, *, conversion: str = "duering2011") -> np.ndarray:
    """Annual-mean NO2 from total annual-mean NOx, ``A NOx / (NOx + B) + C NOx`` (ug/m3).

    Parameters
    ----------
    nox_ugm3 : float or array
        Total NOx (as NO2), ug/m3.
    conversion : {"duering2011", "romberg1996"}, default "duering2011"

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    InvalidOptionError
        Negative NOx or an unknown conversion.
    """
    a, b, c = _conversion(conversion)
    n = _array("nox_ugm3", nox_ugm3)
    return a * n / (n + b) + c * n


def nox_from_no2(no2_ugm3, *, conversion: str = "duering2011") -> np.ndarray:
    """The total NOx that :func:`no2_from_nox` turns into ``no2_ugm3`` (the positive root), ug/m3.

    ``C N^2 + (A + C B - NO2) N - B NO2 = 0``.

    Parameters
    ----------
    no2_ugm3 : float or array
        Annual-mean NO2, ug/m3.
    conversion : {"duering2011", "romberg1996"}, default "duering2011"

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    InvalidOptionError
        Negative NO2 or an unknown conversion.
    """
    a, b, c = _conversion(conversion)
    y = _array("no2_ugm3", no2_ugm3)
    p = a + c * b - y
    return (-p + np.sqrt(p * p + 4.0 * c * b * y)) / (2.0 * c)


def background_no2(background_no2_ugm3: float | None = None) -> tuple[float, str]:
    """The urban-background NO2 and its source: the given value, else the packaged assumption.

    Parameters
    ----------
    background_no2_ugm3 : float, optional
        The city's urban-background annual mean, ug/m3 (e.g. the mean of its urban-background
        monitoring stations over a year).

    Returns
    -------
    tuple of (float, str)
        The value, ug/m3, and its source: :data:`USER_BACKGROUND_SOURCE` for a given value, else the
        ``source`` of the packaged assumption (it begins with "ASSUMPTION").

    Raises
    ------
    InvalidOptionError
        A negative, non-finite or non-scalar value.
    """
    if background_no2_ugm3 is not None:
        x = _array("background_no2_ugm3", background_no2_ugm3)
        if x.ndim != 0:
            raise InvalidOptionError(
                "background_no2_ugm3 must be one number (the city's urban-background annual mean, ug/m3)."
            )
        return float(x), USER_BACKGROUND_SOURCE
    co = air_coefficients()
    row = co[co["key"] == "no2_background_ugm3"].iloc[0]
    return float(row["value"]), str(row["source"])


def street_no2(
    nox_before_g_per_km_day,
    nox_after_g_per_km_day,
    *,
    background_no2_ugm3: float | None = None,
    street_type: str = "canyon",
    distance_m=10.0,
    tree_factor=1.0,
    wind_factor: float = 1.0,
    conversion: str = "duering2011",
) -> pd.DataFrame:
    """Roadside NOx increment and NO2 of each street before and after (see the module docstring).

    Parameters
    ----------
    nox_before_g_per_km_day, nox_after_g_per_km_day : array
        NOx emitted per km of each street per day, both directions, g/km/day.
    background_no2_ugm3 : float, optional
        Urban-background annual-mean NO2, ug/m3 (default: the packaged ASSUMPTION, 30 ug/m3; give
        the city's measured urban-background annual mean).
    street_type, distance_m, tree_factor, wind_factor
        Of :func:`nox_increment`.
    conversion : {"duering2011", "romberg1996"}, default "duering2011"
        Of :func:`no2_from_nox`.

    Returns
    -------
    pandas.DataFrame
        One row per street: ``nox_increment_before_ugm3``, ``nox_increment_after_ugm3``,
        ``no2_before_ugm3``, ``no2_after_ugm3``, ``d_no2_ugm3`` (after - before); ``attrs`` hold
        ``no2_background_ugm3`` and ``no2_background_source`` (:func:`background_no2`).

    Raises
    ------
    InvalidOptionError
        Arrays of different lengths or a bad option.
    """
    eb = np.atleast_1d(_array("nox_before_g_per_km_day", nox_before_g_per_km_day))
    ea = np.atleast_1d(_array("nox_after_g_per_km_day", nox_after_g_per_km_day))
    if eb.ndim != 1 or eb.shape != ea.shape:
        raise InvalidOptionError("nox_before_g_per_km_day and nox_after_g_per_km_day need one value per street.")
    kw = {"street_type": street_type, "distance_m": distance_m, "tree_factor": tree_factor, "wind_factor": wind_factor}
    ib, ia = nox_increment(eb, **kw), nox_increment(ea, **kw)
    bg_no2, bg_source = background_no2(background_no2_ugm3)
    bg_nox = nox_from_no2(bg_no2, conversion=conversion)
    nb = no2_from_nox(bg_nox + ib, conversion=conversion)
    na = no2_from_nox(bg_nox + ia, conversion=conversion)
    out = pd.DataFrame(
        {
            "nox_increment_before_ugm3": ib,
            "nox_increment_after_ugm3": ia,
            "no2_before_ugm3": nb,
            "no2_after_ugm3": na,
            "d_no2_ugm3": na - nb,
        }
    )
    out.attrs["no2_background_ugm3"] = bg_no2
    out.attrs["no2_background_source"] = bg_source
    return out
