"""A lab arm's seeds trained together: one batched model where the recipe allows, else one by one.

Labs train the same recipe over many seeds. :class:`ArmTraining` hands each arm's seeds to
:func:`trainlab.tools.vectorized.fit_seeds`, which trains them as one batched model (vectorized
seeds) where the model and optimizer allow and otherwise one after another, saying why; on one CPU
thread (``Lab.run`` sets it) both ways give every copy the same bits, so a lab's numbers do not
depend on which way ran. :meth:`ArmTraining.note` says which arms ran which way, for the lab's note.
``trainlab lab NAME --separate`` (:func:`separate_seeds`) trains every arm one seed at a time.

Example::

    >>> training = ArmTraining()
    >>> recipes = [{"name": "t", "seed": s, "data": {"name": "moons", "n_samples": 100},
    ...             "model": {"name": "mlp", "hidden": [8]}, "stopping": {"epochs": 1}} for s in (0, 1)]
    >>> len(training.fit("mlp", recipes).setups), training.note()
    (2, 'Seeds trained together as one batched model (vectorized seeds): mlp.')
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from trainlab.recipe import Recipe, load_recipe
from trainlab.run import Setup
from trainlab.tools.vectorized import SeedFits, fit_seeds
from trainlab.train.callbacks import Callback

_separate: ContextVar[bool] = ContextVar("separate_seeds", default=False)


@contextmanager
def separate_seeds() -> Iterator[None]:
    """Within this block every lab trains its seeds one after another (``trainlab lab --separate``)."""
    token = _separate.set(True)
    try:
        yield
    finally:
        _separate.reset(token)


class ArmTraining:
    """Trains each arm's seeds with :func:`fit_seeds` and remembers how, for the lab's note."""

    def __init__(self) -> None:
        self.how: dict[str, str | None] = {}  # arm → why its seeds trained one by one (None: together)

    def fit(self, arm: str, recipes: Sequence[Recipe | dict[str, Any]], epochs: int | None = None,
            validate: bool = True, allow_errors: bool = False,
            callbacks: Callable[[Setup], list[Callback]] | None = None) -> SeedFits:
        """Build and train ``recipes`` (one per seed); a copy whose loss became non-finite raises its
        error unless ``allow_errors`` (then ``fits.errors[k]`` holds it, as a caught separate fit would)."""
        recipes = [r if isinstance(r, Recipe) else load_recipe(r) for r in recipes]
        fits = fit_seeds(recipes, epochs, validate, vectorize=not _separate.get(), callbacks=callbacks)
        if not allow_errors:
            for error in fits.errors:
                if error is not None:
                    raise error
        self.how[arm] = "--separate" if _separate.get() else fits.separately
        return fits

    def note(self) -> str:
        """Which arms trained as one batched model and which one seed at a time (and why)."""
        together = [arm for arm, why in self.how.items() if why is None]
        apart = [f"{arm} ({why})" for arm, why in self.how.items() if why is not None]
        parts = []
        if together:
            parts.append(f"Seeds trained together as one batched model (vectorized seeds): {', '.join(together)}.")
        if apart:
            parts.append(f"Seeds trained one after another: {'; '.join(apart)}.")
        return " ".join(parts)
