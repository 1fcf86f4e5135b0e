"""What the doctor reports: findings with evidence and remedies, and the bias/variance rule."""
from __future__ import annotations

import json
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
class Finding:
    """One thing wrong with a run: ``name`` (a rule), ``severity`` (error, warning, info), a one-line
    ``summary`` with the key numbers, the ``evidence`` (numbers, layers, epochs), an ``explanation``
    in the lectures' terms and ``remedies``, best first."""

    name: str
    severity: str
    summary: str
    evidence: dict[str, Any]
    explanation: str
    remedies: list[Remedy] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
