"""Environmental effect models over per-street arrays: noise, emissions, street space and exposure.

Small pure functions (no network, no scenario object) that the superblock effects call:

* :mod:`urbankit.environment.noise`: CNOSSOS-EU road emission (Directive (EU) 2021/1226), Lden.
* :mod:`urbankit.environment.emissions`: EMEP/EEA (COPERT) speed-dependent emission factors.
* :mod:`urbankit.environment.street_space`: carriageway width from OSM tags, area freed.
* :mod:`urbankit.environment.exposure`: residents per Lden band, winners and losers.
* :mod:`urbankit.environment.air`: an ESTIMATE of roadside NOx/NO2 from NOx emissions (SRM1, Duering 2011).
* :mod:`urbankit.environment.health`: an ESTIMATE of premature deaths avoided (noise -> IHD, WHO 2018; NO2 ->
  all-cause mortality, WHO/HRAPIE).
"""

from . import air, emissions, exposure, health, noise, street_space

__all__ = ["air", "emissions", "exposure", "health", "noise", "street_space"]
