"""Samplers for ``trainlab search``: Optuna's samplers seeded per trial, and the staged search.

Every strategy draws through Optuna: ``random`` through :class:`optuna.samplers.RandomSampler`,
``optuna`` through :class:`optuna.samplers.TPESampler` (with ``constant_liar``, so parallel
workers avoid the points others are evaluating), ``staged`` through a RandomSampler restricted to
a box that shrinks stage by stage. A fresh inner sampler is seeded with ``(seed, trial number)``
for every trial, so workers that share a study never draw the same sequence, and a search run by
one worker is reproducible from its seed.

**Staged (coarse to fine).** The budget of ``n_trials`` is cut into ``stages`` equal parts by each
trial's place in the budget (:func:`slot_of`): slot ``k`` belongs to stage ``⌊k·stages/n_trials⌋``.
Stage 1 draws from the whole space. A later stage draws each parameter uniformly on its own scale
(log for log-scale parameters, ``r = log10(1 − β)`` for one-minus ones) within the range spanned
by the best ``keep`` fraction (at least 2) of all trials completed so far; a categorical keeps
only the values among those best trials. With fewer than 2 completed trials a stage keeps the
whole space. The stage and its box are stored in the trial's user attributes.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from optuna import Study
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

TAKEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)  # trials that hold a place in the budget


def slot_of(study: Study, number: int) -> int:
    """The place of trial ``number`` in the budget: how many finished or running trials precede it.

    Trial numbers are given out one at a time (Optuna locks the study row while it creates a
    trial), so a trial whose slot is ``>= n_trials`` is one too many, whatever other workers do.
    """
    return sum(1 for t in study.get_trials(deepcopy=False, states=TAKEN) if t.number < number)


def trial_seed(seed: int, number: int) -> int:
    """A 32-bit seed for trial ``number`` of a search seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class PerTrialSeed(BaseSampler):
    """Delegates to a fresh sampler ``make(seed)`` per trial, seeded from ``(seed, trial number)``."""

    def __init__(self, make: Callable[[int], BaseSampler], seed: int):
        self._make, self._seed = make, seed
        self._inner = make(seed)

    def trial_attrs(self) -> dict[str, Any]:
        """User attributes describing how the current trial was drawn (none here)."""
        return {}

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._inner = self._make(trial_seed(self._seed, trial.number))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        self._inner.after_trial(study, trial, state, values)


def _best(study: Study, keep: float) -> list[FrozenTrial]:
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    done.sort(key=lambda t: t.value, reverse=study.direction == StudyDirection.MAXIMIZE)
    return done[:max(2, math.ceil(keep * len(done)))] if len(done) >= 2 else []


def shrink(distribution: BaseDistribution, values: list[Any]) -> BaseDistribution:
    """The part of ``distribution`` spanned by ``values`` (on its own scale; the kept choices)."""
    if isinstance(distribution, CategoricalDistribution):
        kept = [c for c in distribution.choices if c in values]
        return CategoricalDistribution(kept)
    low, high = min(values), max(values)
    if isinstance(distribution, IntDistribution):
        return IntDistribution(int(low), int(high), log=distribution.log)
    assert isinstance(distribution, FloatDistribution)
    return FloatDistribution(low, high, log=distribution.log)


def box_of(study: Study, keep: float) -> dict[str, BaseDistribution]:
    """Per parameter, the box spanned by the best ``keep`` fraction of completed trials ({} if < 2)."""
    best = _best(study, keep)
    names = set().union(*(t.params for t in best)) if best else set()
    box = {}
    for name in sorted(names):
        holding = [t for t in best if name in t.params]
        if len(holding) >= 2:
            box[name] = shrink(holding[0].distributions[name], [t.params[name] for t in holding])
    return box


def _bounds(distribution: BaseDistribution) -> list[Any]:
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    return [distribution.low, distribution.high]


class StagedSampler(PerTrialSeed):
    """Random search in ``stages`` stages, each zooming into the region of the best trials so far."""

    def __init__(self, n_trials: int, stages: int = 3, keep: float = 0.2, seed: int = 0):
        super().__init__(lambda s: RandomSampler(seed=s), seed)
        self.n_trials, self.stages, self.keep = n_trials, stages, keep
        self.stage, self.box = 0, {}

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        super().before_trial(study, trial)
        self.stage = min(slot_of(study, trial.number) * self.stages // self.n_trials, self.stages - 1)
        self.box = box_of(study, self.keep) if self.stage > 0 else {}

    def trial_attrs(self) -> dict[str, Any]:
        return {"stage": self.stage + 1, "box": {name: _bounds(d) for name, d in self.box.items()}}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        narrowed = self.box.get(param_name, param_distribution)
        if narrowed.single():  # every best trial had the same value
            return _bounds(narrowed)[0]
        return self._inner.sample_independent(study, trial, param_name, narrowed)
