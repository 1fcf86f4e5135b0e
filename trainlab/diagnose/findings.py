"""What the doctor reports: findings with evidence and remedies, and the bias/variance rule."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")  # most severe first


@dataclass(frozen=True)
class Remedy:
    """A concrete recipe change (key path → value, catalogue names) and why it helps."""

    changes: dict[str, Any]
    why: str

    def as_overrides(self) -> list[str]:
        """The change as ``--set`` arguments."""
        return [f"{key}={_yaml_value(value)}" for key, value in self.changes.items()]


@dataclass(frozen=True)
class Confidence:
    """How sure a finding is: its ``effect`` against the ``noise`` of the estimate it rests on
    (``against="noise"``), or, for a statistic that is not a noisy estimate (a count, a probe median),
    against the rule's threshold (``against="threshold"``); ``ratio`` = effect / noise. A fact read
    off the run (a NaN loss, identical weights) is ``exact`` with no ratio. ``basis`` says what the
    noise or threshold is.

    >>> Confidence.of(0.6, 0.15, "scatter of the validation curve").text()
    'effect 0.6 = 4× the noise (0.15: scatter of the validation curve)'
    """

    effect: float | None
    noise: float | None
    ratio: float | None
    basis: str
    against: str = "noise"  # noise | threshold | exact

    @classmethod
    def of(cls, effect: float, noise: float, basis: str, against: str = "noise") -> Confidence:
        ratio = effect / noise if noise > 0 and math.isfinite(noise) else (math.inf if noise == 0 else 0.0)
        return cls(float(effect), float(noise), _json_float(ratio), basis, against)

    @classmethod
    def beyond(cls, value: float, threshold: float, basis: str) -> Confidence:
        """A statistic against the rule's threshold; ``ratio`` is how many times beyond it (either side)."""
        if value > threshold:
            ratio = value / threshold if threshold > 0 else math.inf
        else:
            ratio = threshold / value if value > 0 else math.inf
        return cls(float(value), float(threshold), _json_float(ratio), basis, "threshold")

    @classmethod
    def exact(cls, basis: str) -> Confidence:
        return cls(None, None, None, basis, "exact")

    def text(self) -> str:
        if self.against == "exact" or self.ratio is None:
            return f"exact ({self.basis})"
        times = "∞" if self.ratio >= 1e6 else f"{self.ratio:.2g}"
        if self.against == "threshold":
            return f"{self.effect:.3g} is {times}× beyond the threshold {self.noise:.3g} ({self.basis})"
        return f"effect {self.effect:.3g} = {times}× the noise ({self.noise:.3g}: {self.basis})"


def _json_float(value: float) -> float:
    return 1e6 if value == math.inf else value  # JSON has no infinity; 1e6 reads as "beyond doubt"


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a run: ``name`` (a rule), ``severity`` (error, warning, info), a one-line
    ``summary`` with the key numbers, the ``evidence`` (numbers, layers, epochs), an ``explanation``
    in the lectures' terms, ``remedies``, best first, and its ``confidence`` (effect against noise)."""

    name: str
    severity: str
    summary: str
    evidence: dict[str, Any]
    explanation: str
    remedies: list[Remedy] = field(default_factory=list)
    confidence: Confidence | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The inverse of :meth:`to_dict` (a finding read back from ``findings.json``)."""
        remedies = [Remedy(**r) for r in data.get("remedies", [])]
        confidence = Confidence(**data["confidence"]) if data.get("confidence") else None
        return cls(data["name"], data["severity"], data["summary"], data["evidence"], data["explanation"],
                   remedies, confidence)


def new_remedies(finding: Finding, recipe: dict[str, Any]) -> Finding:
    """``finding`` without the remedies the resolved ``recipe`` already has: a remedy all of whose
    changes the recipe already holds is dropped; any other is kept whole (its changes belong
    together: "Adam at 0.003" is not "a rate of 0.003"). The doctor applies this to every finding,
    so no rule can suggest what the run already does.

    >>> f = Finding("x", "warning", "", {}, "", [Remedy({"optim.name": "adam", "optim.lr": 0.003}, "a"),
    ...                                             Remedy({"model.init": "he_normal", "model.dropout": 0.3}, "b")])
    >>> recipe = {"optim": {"name": "adam", "lr": 3e-3}, "model": {"init": "he_normal", "dropout": 0.0}}
    >>> [r.changes for r in new_remedies(f, recipe).remedies]
    [{'model.init': 'he_normal', 'model.dropout': 0.3}]
    """
    kept = [remedy for remedy in finding.remedies
            if not all(_already_has(_lookup(recipe, k), v) for k, v in remedy.changes.items())]
    return Finding(finding.name, finding.severity, finding.summary, finding.evidence, finding.explanation, kept,
                   finding.confidence)


_MISSING = object()


def _lookup(recipe: dict[str, Any], key: str) -> Any:
    value: Any = recipe
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _named(value: Any) -> Any:
    """A catalogue entry as a dict: ``"relu"`` and ``{"name": "relu"}`` are the same choice."""
    return {"name": value} if isinstance(value, str) else value


def _already_has(current: Any, proposed: Any) -> bool:
    """Whether the recipe value ``current`` already is the change ``proposed``: equal numbers (to
    rounding), the same catalogue name with the proposed parameters (a parameter the recipe leaves
    out is at its default), a settings block (e.g. ``stopping.early``) with every proposed choice
    (its numeric knobs such as ``patience`` tune it, they do not make it another remedy), or a list
    of named entries (penalties) each present at least as strong (``weight`` ≥ the proposed)."""
    if current is _MISSING:
        return False
    if isinstance(proposed, bool) or isinstance(current, bool):
        return current is proposed
    if isinstance(proposed, (int, float)) and isinstance(current, (int, float)):
        return math.isclose(current, proposed, rel_tol=1e-6)
    if isinstance(proposed, list):
        return all(any(_at_least_as_strong(c, p) for c in current or []) for p in proposed)
    if not isinstance(proposed, dict) and not isinstance(current, dict):
        return current == proposed
    proposed, current = _named(proposed), _named(current)
    if isinstance(proposed, dict) and isinstance(current, dict):
        if "name" not in proposed:  # a settings block: on, with every proposed choice
            return all(k in current and _already_has(current[k], v) for k, v in proposed.items()
                       if isinstance(v, (str, bool)))
        if current.get("name") != proposed["name"]:
            return False
        # a parameter the recipe leaves out is at its default: the same technique, already on
        return all(k not in current or _already_has(current[k], v) for k, v in proposed.items())
    return current == proposed


def _at_least_as_strong(current: Any, proposed: Any) -> bool:
    """A list entry (a penalty) the same technique as ``proposed`` with at least its ``weight``."""
    current, proposed = _named(current), _named(proposed)
    if not (isinstance(current, dict) and isinstance(proposed, dict)) or current.get("name") != proposed.get("name"):
        return False
    weight = proposed.get("weight")
    stronger = weight is None or current.get("weight", math.inf) >= weight * (1 - 1e-6)
    return stronger and all(_already_has(current.get(k, _MISSING), v) for k, v in proposed.items()
                            if k not in ("name", "weight") and k in current)


def _yaml_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value)  # JSON is valid YAML


@dataclass(frozen=True)
class BiasVariance:
    """avoidable bias = train error − Bayes error; variance = validation error − train error."""

    avoidable_bias: float
    variance: float
    high_bias: bool
    high_variance: bool

    @property
    def verdict(self) -> str:
        if self.high_bias and self.high_variance:
            return "high bias and high variance"
        if self.high_bias:
            return "high bias"
        if self.high_variance:
            return "high variance"
        return "fine"


def bias_variance(train_error: float, val_error: float, bayes_error: float = 0.0,
                  threshold: float = 0.05) -> BiasVariance:
    """Andrew Ng's diagnosis, as in the lectures (seed 004): with errors as fractions,

    avoidable bias = e_train − e_Bayes, variance = e_val − e_train; each is *high* when it exceeds
    ``threshold`` (5 percentage points). The lectures' table: 1 %/11 % → high variance;
    15 %/16 % → high bias; 15 %/30 % → both; 0.5 %/1 % → fine.

    >>> [bias_variance(t, v).verdict for t, v in [(.01, .11), (.15, .16), (.15, .30), (.005, .01)]]
    ['high variance', 'high bias', 'high bias and high variance', 'fine']
    """
    bias, variance = train_error - bayes_error, val_error - train_error
    return BiasVariance(bias, variance, bias > threshold, variance > threshold)
