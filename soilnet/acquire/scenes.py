"""Landsat-8 scene choice per point: QA_PIXEL decoding, window shares and the paper's rule.

The paper's rule (``ee_utils.py`` of the original code), applied to the window around a point:

1. the **earliest** 2015 winter scene (January, February, November, December) whose window has
   under 10 % cloud or cloud shadow and under 10 % snow;
2. otherwise the 2015 scene from March to October with the **lowest window-mean NDVI** among
   those passing the same limits;
3. otherwise the point has no usable scene (it is reported, never dropped silently).

Differences from the original, each fixing a weakness of its downloader:

- Cloud, shadow and snow are decided by :data:`QA_RULE` (high confidence only); the original
  also counted *low*-confidence cloud, which the QA band sets on almost every clear pixel.
- The window must hold at least 70 % valid (non-fill) pixels; the original compared 0.7 with a
  percentage, so it accepted scenes with 0.7 % valid pixels.
- Cloud, shadow, snow and fill pixels become NaN in the patch (the original kept them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# QA_PIXEL bits of Landsat Collection 2 Level-2 (USGS LSDS-1619 / LSDS-1328).
QA_FILL = 1 << 0
QA_DILATED_CLOUD = 1 << 1
QA_CIRRUS = 1 << 2
QA_CLOUD = 1 << 3
QA_CLOUD_SHADOW = 1 << 4
QA_SNOW = 1 << 5
QA_CLEAR = 1 << 6
QA_WATER = 1 << 7
#: Bit offsets of the two-bit confidence fields (00 none, 01 low, 10 medium, 11 high).
QA_CLOUD_CONF_SHIFT = 8
QA_SHADOW_CONF_SHIFT = 10
QA_SNOW_CONF_SHIFT = 12
QA_CIRRUS_CONF_SHIFT = 14
CONF_HIGH = 3

#: The exact pixel rule, also written into every patch's metadata.
QA_RULE = (
    "fill = bit 0; cloud = bit 1 (dilated cloud) set, or bit 3 (cloud) set with cloud "
    "confidence (bits 8-9) high; shadow = bit 4 (cloud shadow) set with shadow confidence "
    "(bits 10-11) high; snow = bit 5 (snow) set with snow/ice confidence (bits 12-13) high. "
    "Low or medium confidence alone never counts; cirrus (bit 2) is not masked. Shares are "
    "taken over the window's non-fill pixels."
)

#: Scale of Collection 2 Level-2 surface reflectance: reflectance = DN * SCALE + OFFSET.
SR_SCALE = 2.75e-5
SR_OFFSET = -0.2

#: Months counted as winter (bare soil) by the paper's first rule.
WINTER_MONTHS = (1, 2, 11, 12)


@dataclass(frozen=True)
class QaMasks:
    """Boolean pixel masks decoded from QA_PIXEL, each (H, W).

    Attributes:
        fill: no data (outside the scene footprint).
        cloud: cloud or dilated cloud.
        shadow: cloud shadow.
        snow: snow or ice.
    """

    fill: np.ndarray
    cloud: np.ndarray
    shadow: np.ndarray
    snow: np.ndarray

    @property
    def masked(self) -> np.ndarray:
        """Pixels set to NaN in a patch: fill, cloud, shadow or snow."""
        return self.fill | self.cloud | self.shadow | self.snow


def decode_qa(qa: np.ndarray) -> QaMasks:
    """Decode QA_PIXEL by :data:`QA_RULE`.

    Args:
        qa: uint16 (H, W) QA_PIXEL values (1 = fill).
    """
    qa = np.asarray(qa).astype(np.uint16)

    def conf(shift: int) -> np.ndarray:
        return (qa >> shift) & 3

    fill = (qa & QA_FILL) != 0
    cloud = ((qa & QA_DILATED_CLOUD) != 0) | (
        ((qa & QA_CLOUD) != 0) & (conf(QA_CLOUD_CONF_SHIFT) == CONF_HIGH)
    )
    shadow = ((qa & QA_CLOUD_SHADOW) != 0) & (conf(QA_SHADOW_CONF_SHIFT) == CONF_HIGH)
    snow = ((qa & QA_SNOW) != 0) & (conf(QA_SNOW_CONF_SHIFT) == CONF_HIGH)
    return QaMasks(fill=fill, cloud=cloud & ~fill, shadow=shadow & ~fill, snow=snow & ~fill)


@dataclass(frozen=True)
class WindowShares:
    """Shares (0-1) of the window's pixels.

    Attributes:
        valid: non-fill pixels over all pixels.
        cloud: cloud pixels over valid pixels.
        shadow: shadow pixels that are not cloud, over valid pixels (so ``cloud + shadow`` is
            the cloud-or-shadow share).
        snow: snow pixels over valid pixels.
    """

    valid: float
    cloud: float
    shadow: float
    snow: float

    @property
    def cloud_shadow(self) -> float:
        """Cloud-or-shadow share of the valid pixels."""
        return self.cloud + self.shadow


def window_shares(masks: QaMasks) -> WindowShares:
    """Compute :class:`WindowShares`; a window without valid pixels has all shares 1."""
    n = masks.fill.size
    valid = ~masks.fill
    n_valid = int(valid.sum())
    if n == 0 or n_valid == 0:
        return WindowShares(valid=0.0, cloud=1.0, shadow=0.0, snow=1.0)
    cloud = int((masks.cloud & valid).sum())
    shadow = int((masks.shadow & ~masks.cloud & valid).sum())
    snow = int((masks.snow & valid).sum())
    return WindowShares(
        valid=n_valid / n, cloud=cloud / n_valid, shadow=shadow / n_valid, snow=snow / n_valid
    )


@dataclass(frozen=True)
class SceneLimits:
    """The limits a window must pass (fractions 0-1).

    Attributes:
        max_cloud_shadow: cloud-or-shadow share must be below this (paper: 10 %).
        max_snow: snow share must be below this (paper: 10 %).
        min_valid: non-fill share must be at least this (the original meant 70 %).
    """

    max_cloud_shadow: float = 0.10
    max_snow: float = 0.10
    min_valid: float = 0.70

    def failure(self, shares: WindowShares) -> str | None:
        """Why ``shares`` fail the limits, or None when they pass."""
        if shares.valid < self.min_valid:
            return f"valid {shares.valid:.0%} < {self.min_valid:.0%}"
        if shares.cloud_shadow >= self.max_cloud_shadow:
            return f"cloud+shadow {shares.cloud_shadow:.0%} >= {self.max_cloud_shadow:.0%}"
        if shares.snow >= self.max_snow:
            return f"snow {shares.snow:.0%} >= {self.max_snow:.0%}"
        return None


@dataclass(frozen=True)
class Candidate:
    """A Landsat-8 scene that covers a point.

    Attributes:
        item: the STAC item.
        id: the item id (e.g. ``LC08_L2SP_198024_20150107_02_T1``).
        datetime: acquisition time (UTC).
    """

    item: dict = field(repr=False, compare=False, hash=False)
    id: str
    datetime: pd.Timestamp

    @property
    def winter(self) -> bool:
        """Whether the scene falls in the paper's winter months."""
        return self.datetime.month in WINTER_MONTHS

    @property
    def date_code(self) -> str:
        """``YYMMDD`` of the acquisition, as in patch file names."""
        return self.datetime.strftime("%y%m%d")


def landsat_candidates(
    items: Iterable[dict], year: int, *, platform: str = "landsat-8", tier: str | None = "T1"
) -> list[Candidate]:
    """Keep the Landsat-8 (Tier-1) items of ``year``, earliest first, one per id.

    Items without ``platform`` or ``landsat:collection_category`` properties are kept (a
    generic STAC API may omit them).

    Args:
        items: STAC items (dicts).
        year: the calendar year wanted (2015 in the paper).
        platform: value of ``properties.platform`` to keep.
        tier: value of ``properties["landsat:collection_category"]`` to keep (None: any).
    """
    out: dict[str, Candidate] = {}
    for item in items:
        props = item.get("properties", {})
        if props.get("platform", platform).lower() != platform:
            continue
        if tier is not None and props.get("landsat:collection_category", tier) != tier:
            continue
        stamp = props.get("datetime") or props.get("start_datetime")
        if not stamp:
            continue
        when = pd.Timestamp(stamp)
        when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
        if when.year != year:
            continue
        out.setdefault(item["id"], Candidate(item=item, id=item["id"], datetime=when))
    return sorted(out.values(), key=lambda c: (c.datetime, c.id))


@dataclass
class Evaluation:
    """The outcome of checking one scene's window.

    Attributes:
        candidate: the scene.
        shares: its window shares.
        failure: why it failed the limits, or None when it passed.
        mean_ndvi: window-mean NDVI over unmasked pixels (only computed for passing
            March-October scenes).
    """

    candidate: Candidate
    shares: WindowShares
    failure: str | None
    mean_ndvi: float | None = None


@dataclass
class SceneDecision:
    """The scene chosen for a point, or why there is none.

    Attributes:
        choice: the chosen scene, or None.
        rule: ``"winter-earliest"``, ``"min-ndvi"`` or ``""`` when nothing passed.
        evaluations: every scene checked, in the order checked.
    """

    choice: Candidate | None
    rule: str
    evaluations: list[Evaluation]

    @property
    def chosen(self) -> Evaluation | None:
        """The evaluation of the chosen scene."""
        return next(
            (e for e in self.evaluations if self.choice and e.candidate.id == self.choice.id), None
        )

    def failure_reason(self) -> str:
        """A one-line explanation for a point with no usable scene."""
        n = len(self.evaluations)
        if n == 0:
            return "no usable scene: no scene to check"
        best = min(
            self.evaluations,
            key=lambda e: (e.shares.valid < 0.7, e.shares.cloud_shadow + e.shares.snow),
        )
        return (
            f"no usable scene: {n} Landsat-8 scene(s) checked, none passes the window limits; "
            f"least bad {best.candidate.id} ({best.failure})"
        )


def choose_scene(
    candidates: list[Candidate],
    evaluate: Callable[[Candidate], WindowShares],
    mean_ndvi: Callable[[Candidate], float],
    limits: SceneLimits | None = None,
) -> SceneDecision:
    """Apply the paper's rule (see the module docstring) to a point's candidate scenes.

    Args:
        candidates: the point's scenes of the year, earliest first (:func:`landsat_candidates`).
        evaluate: reads a scene's QA window and returns its shares.
        mean_ndvi: window-mean NDVI of a scene over its unmasked pixels (called only for
            March-October scenes that pass the limits).
        limits: the window limits (default: the paper's).

    Returns:
        The decision, with every evaluation made. Scenes are read lazily: winter scenes in
        date order until one passes; March-October scenes only when no winter scene passes.
    """
    limits = limits or SceneLimits()
    evaluations: list[Evaluation] = []
    for cand in (c for c in candidates if c.winter):
        shares = evaluate(cand)
        ev = Evaluation(cand, shares, limits.failure(shares))
        evaluations.append(ev)
        if ev.failure is None:
            return SceneDecision(cand, "winter-earliest", evaluations)
    best: Evaluation | None = None
    for cand in (c for c in candidates if not c.winter):
        shares = evaluate(cand)
        ev = Evaluation(cand, shares, limits.failure(shares))
        evaluations.append(ev)
        if ev.failure is not None:
            continue
        ev.mean_ndvi = float(mean_ndvi(cand))
        if np.isfinite(ev.mean_ndvi) and (best is None or ev.mean_ndvi < best.mean_ndvi):
            best = ev
    if best is not None:
        return SceneDecision(best.candidate, "min-ndvi", evaluations)
    return SceneDecision(None, "", evaluations)


def dn_to_reflectance(dn: np.ndarray, masked: np.ndarray | None = None) -> np.ndarray:
    """Scale Level-2 digital numbers to surface reflectance: ``DN * 2.75e-5 - 0.2``.

    Args:
        dn: uint16 (..., H, W) digital numbers; 0 is the product's fill value.
        masked: optional bool (H, W) of pixels to set to NaN (from :attr:`QaMasks.masked`).

    Returns:
        float32 reflectance of the same shape, NaN where ``dn == 0`` or ``masked``.
    """
    dn = np.asarray(dn)
    out = (dn.astype(np.float32) * np.float32(SR_SCALE) + np.float32(SR_OFFSET)).astype(np.float32)
    out[dn == 0] = np.nan
    if masked is not None:
        out[..., masked] = np.nan
    return out


def mean_ndvi(red: np.ndarray, nir: np.ndarray) -> float:
    """Mean NDVI over the pixels where both reflectances are finite (NaN if there are none).

    Args:
        red, nir: float (H, W) reflectance of SR_B4 and SR_B5.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
    ndvi = ndvi[np.isfinite(ndvi)]
    return float(ndvi.mean()) if ndvi.size else float("nan")
