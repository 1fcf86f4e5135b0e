"""Verdicts from several seeds: an effect's median, its 95 % interval and one of three verdicts.

A lab measures a claim's *effect* once per seed (a contrast such as "dead fraction at lr 1", or
"ensemble error − best member's error"). One seed at the edge of a chaotic regime is not evidence:
float sums differ across CPU kernels (AVX-512, AVX2, plain) even on one thread, and such a run can
end anywhere. The verdict is therefore taken from the distribution over seeds:

- the **median** m of the per-seed values (robust to one diverged or wild seed);
- a **95 % percentile-bootstrap interval** [lo, hi] of the median: B = 10 000 resamples of the
  seeds with replacement, drawn from a fixed generator so the interval is a pure function of the
  values (with 3 seeds it is [min, max]; with 10 about the 3rd to 8th smallest);
- the claim "effect ≥ t" (or "effect ≤ t") with its threshold t fixed before looking at results:
  **reproduced** when the whole interval clears t (lo ≥ t), **not reproduced** when it clears the
  opposite (hi < t), **inconclusive** otherwise. Mirrored for "≤ t".

NaN values (a seed that gave no value, e.g. a diverged run the lab chose not to score) are left out
and counted; ±inf is a value (it clears any "≥" and breaks any "≤"); fewer than two values give
*inconclusive*.

NumPy does the resampling; scipy.stats.bootstrap is not used because its default BCa interval is
undefined (NaN, with warnings) when every seed gives the same value, which exact claims often do.

Example::

    >>> from trainlab.labs.verdict import Evidence
    >>> e = Evidence("dead fraction at lr 1", (0.15, 0.25, 0.5, 0.125), at_least=0.10, source="notes")
    >>> e.median, e.interval, e.verdict
    (0.2, (0.125, 0.5), 'reproduced')
    >>> Evidence("spread ratio", (1.04, 1.07, 1.05), at_least=1.5).verdict
    'not reproduced'
    >>> Evidence("gain", (-0.01, 0.02, 0.03), at_least=0.0).verdict
    'inconclusive'
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
RESAMPLES = 10_000
LEVEL = 0.95


def median_interval(values: Sequence[float], level: float = LEVEL, resamples: int = RESAMPLES) -> tuple[float, float]:
    """The percentile-bootstrap ``level`` interval of the median of ``values`` (NaN left out);
    deterministic: the resampling generator is seeded with 0."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    draws = np.random.default_rng(0).integers(0, x.size, size=(resamples, x.size))
    medians = np.median(x[draws], axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(medians, [tail, 1 - tail], method="inverted_cdf")
    return float(lo), float(hi)


def combine(verdicts: Iterable[str]) -> str:
    """A lab's verdict from its criteria: reproduced when every one is, not reproduced when any is
    not, inconclusive otherwise (and when there is none)."""
    verdicts = list(verdicts)
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE


@dataclass(frozen=True)
class Evidence:
    """A claim's effect over seeds and the threshold the claim sets: exactly one of ``at_least``
    (the claim: effect ≥ t) or ``at_most`` (effect ≤ t). ``source`` says where t comes from (the
    notes, theory, a noise estimate); ``seeds`` labels ``values`` (default 0, 1, …)."""

    text: str
    values: tuple[float, ...]
    at_least: float | None = None
    at_most: float | None = None
    source: str = ""
    seeds: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError(f"Evidence {self.text!r}: give exactly one of at_least, at_most")
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        if not self.seeds:
            object.__setattr__(self, "seeds", tuple(range(len(self.values))))
        if len(self.seeds) != len(self.values):
            raise ValueError(f"Evidence {self.text!r}: {len(self.values)} values for {len(self.seeds)} seeds")

    @property
    def threshold(self) -> float:
        return self.at_least if self.at_least is not None else self.at_most  # type: ignore[return-value]

    @property
    def scored(self) -> list[float]:
        """The values that count: all but NaN (±inf is a value)."""
        return [v for v in self.values if not math.isnan(v)]

    @property
    def median(self) -> float:
        return float(np.median(self.scored)) if self.scored else math.nan

    @cached_property
    def interval(self) -> tuple[float, float]:
        return median_interval(self.values)

    @property
    def verdict(self) -> str:
        if len(self.scored) < 2:
            return INCONCLUSIVE
        lo, hi = self.interval
        if self.at_least is not None:
            return REPRODUCED if lo >= self.at_least else NOT_REPRODUCED if hi < self.at_least else INCONCLUSIVE
        return REPRODUCED if hi <= self.at_most else NOT_REPRODUCED if lo > self.at_most else INCONCLUSIVE

    @property
    def passed(self) -> bool:
        return self.verdict == REPRODUCED

    @property
    def criterion(self) -> str:
        return f"≥ {self.at_least:.4g}" if self.at_least is not None else f"≤ {self.at_most:.4g}"

    def summary(self) -> str:
        """One line: the effect, median [interval] over n seeds, the criterion and where it comes from."""
        lo, hi = self.interval
        dropped = len(self.values) - len(self.scored)
        missing = f", {dropped} without a value" if dropped else ""
        source = f" ({self.source})" if self.source else ""
        return (f"{self.text}: median {self.median:.4g}, 95 % interval [{lo:.4g}, {hi:.4g}] over "
                f"{len(self.values)} seeds{missing}; claim {self.criterion}{source}")

    def to_dict(self) -> dict[str, Any]:
        def plain(v: float) -> float | str:
            return v if math.isfinite(v) else str(v)

        lo, hi = self.interval
        return {"text": self.text, "seeds": list(self.seeds), "values": [plain(v) for v in self.values],
                "median": plain(self.median), "interval": [plain(lo), plain(hi)], "level": LEVEL,
                "criterion": self.criterion, "source": self.source, "verdict": self.verdict}
