"""The ``pde`` data set: collocation points of a PDE problem as a run's examples.

Each training example is a point x of the box with a row of targets ``[term, value, known, weight]``:
``term`` 0 for an interior (residual) point, 1 for a Dirichlet boundary point, 2 for an initial point
(t = t₀); ``value`` is g(x) on boundary and initial points and u*(x) inside where the exact solution
is known (else 0), ``known`` says whether it is, ``weight`` is the term's loss weight. The test split
is a fine uniform grid of interior points with u*. :mod:`trainlab.pde.physics` reads these rows.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from trainlab.data.datasets import Dataset
from trainlab.pde.problems import BUILT_IN, Problem, custom_problem
from trainlab.registry import datasets

RESIDUAL, BOUNDARY, INITIAL = 0, 1, 2  # the ``term`` column
TERMS = {"residual": RESIDUAL, "boundary": BOUNDARY, "initial": INITIAL}
TERM, VALUE, KNOWN, WEIGHT = range(4)  # the target columns
DEFAULT_GRID = {1: 1001, 2: 101, 3: 21}  # test-grid points per axis by the number of coordinates
Sampling = Literal["uniform", "random", "resample"]


@dataclass
class PDEData(Dataset):
    """A :class:`Dataset` of collocation points; ``draw(epoch)`` gives a freshly sampled training set
    (same layout) when ``sampling`` is ``resample``."""

    problem: Problem | None = None
    sampling: str = "uniform"
    draw: Callable[[int], tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def n_outputs(self) -> int:
        return 1  # the network computes u(x); the loss and metrics read the target columns


def _box(bounds: list[tuple[float, float]], count: int, random: bool, rng: np.random.Generator) -> np.ndarray:
    """``count`` points in the box ``bounds``: a uniform grid (round(count^(1/k)) per axis, ends
    included) or uniform random draws; a box of no dimensions is a single point."""
    if not bounds:
        return np.zeros((1, 0))
    if random:
        low, high = np.array(bounds).T
        return rng.uniform(low, high, size=(count, len(bounds)))
    per_axis = max(2, round(count ** (1 / len(bounds))))
    axes = [np.linspace(a, b, per_axis) for a, b in bounds]
    return np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)


def _on_face(face: np.ndarray, axis: int, value: float) -> np.ndarray:
    """Points of a face: the free coordinates ``face`` with coordinate ``axis`` fixed at ``value``."""
    return np.insert(face, axis, value, axis=1)


def collocation(problem: Problem, points: int, boundary_points: int, initial_points: int, random: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The training points and their term ids: ``points`` inside, ``boundary_points`` spread evenly over
    the Dirichlet faces (every face of the box but the time axis's), ``initial_points`` on t = t₀."""
    bounds, d = list(problem.bounds), problem.dims
    parts = [(_box(bounds, points, random, rng), RESIDUAL)]
    if problem.boundary is not None:
        space = range(d - 1) if problem.time else range(d)
        faces = [(axis, end) for axis in space for end in bounds[axis]]
        per_face = max(1, boundary_points // len(faces))
        for axis, end in faces:
            free = bounds[:axis] + bounds[axis + 1 :]
            parts.append((_on_face(_box(free, per_face, random, rng), axis, end), BOUNDARY))
        if problem.time:
            parts.append((_on_face(_box(bounds[:-1], initial_points, random, rng), d - 1, bounds[-1][0]), INITIAL))
    x = np.concatenate([p for p, _ in parts])
    term = np.concatenate([np.full(len(p), t) for p, t in parts])
    return x, term


def _values(function: Callable, x: np.ndarray, what: str) -> np.ndarray:
    out = function(torch.from_numpy(x))
    if not isinstance(out, torch.Tensor) or out.shape != (len(x), 1):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{what} returned {shape} for {len(x)} points; expected a tensor of shape ({len(x)}, 1)")
    return out.detach().numpy()[:, 0]


def targets(problem: Problem, x: np.ndarray, term: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """The rows ``[term, value, known, weight]`` of the points ``x`` (see the module docstring)."""
    y = np.zeros((len(x), 4))
    y[:, TERM] = term
    inside, edge = term == RESIDUAL, term != RESIDUAL
    if problem.exact is not None:
        y[inside, VALUE] = _values(problem.exact, x[inside], f"the exact solution of '{problem.name}'")
        y[:, KNOWN] = 1.0
    if edge.any():
        y[edge, VALUE] = _values(problem.boundary, x[edge], f"the boundary values of '{problem.name}'")
    for name, t in TERMS.items():
        y[term == t, WEIGHT] = weights[name]
    return y


def test_grid(problem: Problem, per_axis: int) -> np.ndarray:
    axes = [np.linspace(a, b, per_axis) for a, b in problem.bounds]
    return np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)


def _problem(problem: str, residual: str | None, bounds, boundary, exact, time) -> Problem:
    if problem == "custom":
        if residual is None or bounds is None:
            raise ValueError("problem: 'custom' needs residual (an import path 'module:function') and bounds "
                             "(the box, e.g. [[0, 1]])")
        return custom_problem(residual, bounds, boundary, exact, time)
    if problem not in BUILT_IN:
        raise ValueError(f"problem: '{problem}' is not a built-in PDE problem; known: {', '.join(BUILT_IN)}, "
                         "or custom (your own residual)")
    if residual is not None or any(v is not None for v in (bounds, boundary, exact)) or time:
        raise ValueError(f"residual/bounds/boundary/exact/time: the built-in problem '{problem}' defines its own; "
                         "they go with problem: custom (your own equation)")
    return BUILT_IN[problem]


@datasets.register("pde")
def pde(seed: int, problem: str = "poisson1d", residual: str | None = None, bounds: list[list[float]] | None = None,
        boundary: str | None = None, exact: str | None = None, time: bool = False, points: int = 256,
        boundary_points: int = 64, initial_points: int = 64, sampling: Sampling = "uniform",
        weights: dict[str, float] | None = None, grid: int | None = None) -> PDEData:
    """Physics-informed training data: collocation points of a PDE problem (task ``pde``).

    The network u(x) is trained on the loss L = w_r·mean r(x, u)² over the interior points +
    w_b·mean (u − g)² over the boundary points + w_0·mean (u − g)² over the initial points (loss
    ``pde``), with the residual r from torch.autograd. The built-in ``problem``s:

    - ``poisson1d``: u'' = −π² sin(πx) on [0, 1], u(0) = u(1) = 0; exact u = sin(πx).
    - ``heat1d``: u_t = 0.1·u_xx on [0, 1] × [0, 1], u(x, 0) = sin(πx), u(0, t) = u(1, t) = 0; exact
      u = e^{−0.1π²t} sin(πx).
    - ``burgers``: u_t + u·u_x = (0.01/π)·u_xx on [−1, 1] × [0, 1], u(x, 0) = −sin(πx), u(±1, t) = 0;
      exact u from the Cole–Hopf integral, by quadrature.
    - ``laplace2d``: u_xx + u_yy = 0 on [0, 1]², u = sin(πx) on y = 1 and 0 on the other sides;
      exact u = sin(πx)·sinh(πy)/sinh(π).

    Your own problem, ``problem: custom``: ``residual: "module:function"`` (r = f(x, u), shapes
    (n, d), (n, 1) → (n, 1), derivatives with ``trainlab.pde.partial``), ``bounds: [[a, b], …]``
    (the box), optional ``boundary: "module:g"`` (u = g(x) on the faces) and ``exact: "module:u"``,
    and ``time: true`` when the last coordinate is t (its first face is the initial condition, its
    last face free).

    Parameters:

    - ``points``: interior collocation points (``uniform``: a grid of round(points^(1/d)) per axis).
    - ``boundary_points``, ``initial_points``: points spread over the Dirichlet faces and on t = t₀
      (a 1-D problem's boundary is its two end points).
    - ``sampling``: ``uniform`` (a grid), ``random`` (uniform draws, fixed) or ``resample`` (new
      draws every epoch, from the seed and the epoch, so a resumed run draws the same points).
    - ``weights``: loss weight per term, ``{residual: w_r, boundary: w_b, initial: w_0}`` (1 each).
    - ``grid``: test-grid points per axis (default 1001 in 1-D, 101 in 2-D): the test split, with the
      exact solution for the metric ``rel_l2``.
    """
    chosen = _problem(problem, residual, bounds, boundary, exact, time)
    unknown = set(weights or {}) - set(TERMS)
    if unknown:
        raise ValueError(f"weights: unknown terms {sorted(unknown)}; accepted: {', '.join(TERMS)}")
    term_weights = {**dict.fromkeys(TERMS, 1.0), **(weights or {})}
    if any(not w >= 0 for w in term_weights.values()):
        raise ValueError(f"weights: {term_weights} must be >= 0")
    for name, value in (("points", points), ("boundary_points", boundary_points), ("initial_points", initial_points)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    per_axis = DEFAULT_GRID.get(chosen.dims, 11) if grid is None else grid
    if per_axis < 2:
        raise ValueError(f"grid must be at least 2 points per axis, got {grid}")

    def draw(epoch: int | None) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([seed] if epoch is None else [seed, epoch])
        x, term = collocation(chosen, points, boundary_points, initial_points, sampling != "uniform", rng)
        x = x.astype(np.float32)  # inputs are float32 like every data set's; targets at exactly these points
        return x, targets(chosen, x.astype(np.float64), term, term_weights)

    x, y = draw(None)
    x_test = test_grid(chosen, per_axis).astype(np.float32)
    y_test = targets(chosen, x_test.astype(np.float64), np.full(len(x_test), RESIDUAL), term_weights)
    counts = {name: int((y[:, TERM] == t).sum()) for name, t in TERMS.items()}
    return PDEData("pde", x, y, x_test, y_test, info={"problem": chosen.name, "formula": chosen.formula,
                                                      "coordinates": list(chosen.coordinates), "points": counts,
                                                      "exact": chosen.exact is not None},
                   problem=chosen, sampling=sampling, draw=draw if sampling == "resample" else None)

