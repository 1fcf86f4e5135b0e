"""PDE problems on a box: a residual written with torch.autograd, Dirichlet values, the exact solution.

A problem is u: Ω → ℝ on a box Ω = [a₁, b₁] × … × [a_d, b_d] with

- the residual r(x, u) = 0 inside Ω, a function of the points x (n, d) and the network's u(x) (n, 1)
  that takes derivatives with :func:`partial` (``torch.autograd.grad`` with ``create_graph``, so the
  loss can be differentiated again with respect to the weights);
- Dirichlet values u = g(x) on the faces of the box; for a time-dependent problem (``time``: the last
  coordinate is t) the face t = t₀ is the initial condition and the face t = t_end stays free;
- the exact solution u*(x) where it is known (for the relative L2 error).

The built-ins (:data:`BUILT_IN`) are the classic teaching problems; a user's problem names Python
functions by import path (:func:`custom_problem`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from trainlab.registry import import_object

Field = Callable[[torch.Tensor], torch.Tensor]  # points (n, d) → values (n, 1)
Residual = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (points (n, d), u (n, 1)) → r (n, 1)


def partial(u: torch.Tensor, x: torch.Tensor, *axes: int) -> torch.Tensor:
    """∂ᵏu / ∂x_{a₁}…∂x_{aₖ} at every point, shape (n, 1); ``partial(u, x, 0, 0)`` is u_xx.

    ``x`` must require grad and ``u`` be computed from it row by row (the network maps each point on
    its own), so the gradient of Σu is each row's derivative. The graph is kept (``create_graph``)
    so that a loss built from the result can be differentiated again with respect to the weights.

    >>> x = torch.linspace(0, 1, 5, dtype=torch.float64).unsqueeze(1).requires_grad_(True)
    >>> torch.allclose(partial(x ** 3, x, 0, 0), 6 * x)
    True
    """
    for axis in axes:
        (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        u = grad[:, axis : axis + 1]
    return u


@dataclass(frozen=True)
class Problem:
    """A PDE on a box; see the module docstring. ``bounds`` holds (low, high) per coordinate."""

    name: str
    formula: str  # the equation, its domain and conditions, for the docs and the report
    coordinates: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    residual: Residual
    boundary: Field | None  # g on the Dirichlet faces (and at t = t₀), or None: no boundary term
    exact: Field | None = None
    time: bool = False  # the last coordinate is time

    @property
    def dims(self) -> int:
        return len(self.bounds)


def _poisson1d(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return partial(u, x, 0, 0) + math.pi**2 * torch.sin(math.pi * x)


def _sin(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(math.pi * x[:, :1])


HEAT_ALPHA = 0.1  # the heat problem's diffusivity α


def _heat1d(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return partial(u, x, 1) - HEAT_ALPHA * partial(u, x, 0, 0)


def _heat_exact(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-HEAT_ALPHA * math.pi**2 * x[:, 1:2]) * torch.sin(math.pi * x[:, :1])


BURGERS_NU = 0.01 / math.pi  # the viscosity of Raissi et al.'s (2019) Burgers benchmark


def _burgers(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    u_x = partial(u, x, 0)
    return partial(u, x, 1) + u * u_x - BURGERS_NU * partial(u_x, x, 0)


def _minus_sin(x: torch.Tensor) -> torch.Tensor:
    return -torch.sin(math.pi * x[:, :1])


HERMITE_SPAN, NODES = 12.0, 1201  # the Cole–Hopf integral's nodes: z = η/√(4νt) in [−12, 12]


def _burgers_exact(x: torch.Tensor) -> torch.Tensor:
    """The Cole–Hopf solution (Basdevant et al. 1986), by quadrature:

    u(x, t) = −∫ sin(π(x − η)) f(x − η) e^{−η²/4νt} dη / ∫ f(x − η) e^{−η²/4νt} dη, f(y) = e^{−cos(πy)/(2πν)},

    with η = √(4νt)·z and the trapezoid rule on 1201 nodes in z ∈ [−12, 12] (the Gaussian's tail
    beyond is below e^{−90} of the peak; 8001 nodes on [−14, 14] change no value on the 101 × 101
    grid by more than 1e-15). Weights are scaled by their largest log per point, so
    f's e^{±50} never overflows; at t = 0 it is −sin(πx) exactly."""
    x = x.to(torch.float64)
    z = torch.linspace(-HERMITE_SPAN, HERMITE_SPAN, NODES, dtype=torch.float64)
    values = []
    for block in x.split(256):
        y = block[:, :1] - torch.sqrt(4 * BURGERS_NU * block[:, 1:2]) * z  # (points, nodes)
        log_weight = -torch.cos(math.pi * y) / (2 * math.pi * BURGERS_NU) - z**2
        weight = torch.exp(log_weight - log_weight.max(dim=1, keepdim=True).values)
        values.append(-(torch.sin(math.pi * y) * weight).sum(dim=1, keepdim=True) / weight.sum(dim=1, keepdim=True))
    return torch.cat(values)


def _laplace2d(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return partial(u, x, 0, 0) + partial(u, x, 1, 1)


def _laplace_exact(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(math.pi * x[:, :1]) * torch.sinh(math.pi * x[:, 1:2]) / math.sinh(math.pi)


BUILT_IN: dict[str, Problem] = {p.name: p for p in (
    Problem("poisson1d", "u'' = −π² sin(πx) on [0, 1], u(0) = u(1) = 0; exact u = sin(πx)",
            ("x",), ((0.0, 1.0),), _poisson1d, _sin, _sin),
    Problem("heat1d", f"u_t = α u_xx, α = {HEAT_ALPHA}, on [0, 1] × [0, 1]; u(x, 0) = sin(πx), u(0, t) = u(1, t) = 0; "
                      "exact u = e^{−απ²t} sin(πx)",
            ("x", "t"), ((0.0, 1.0), (0.0, 1.0)), _heat1d, _heat_exact, _heat_exact, time=True),
    Problem("burgers", "u_t + u u_x = ν u_xx, ν = 0.01/π, on [−1, 1] × [0, 1]; u(x, 0) = −sin(πx), "
                       "u(±1, t) = 0 (Raissi et al. 2019); exact u by the Cole–Hopf integral (quadrature)",
            ("x", "t"), ((-1.0, 1.0), (0.0, 1.0)), _burgers, _minus_sin, _burgers_exact, time=True),
    Problem("laplace2d", "u_xx + u_yy = 0 on [0, 1]²; u = sin(πx) on y = 1, u = 0 on the other sides; "
                         "exact u = sin(πx) sinh(πy) / sinh(π)",
            ("x", "y"), ((0.0, 1.0), (0.0, 1.0)), _laplace2d, _laplace_exact, _laplace_exact),
)}


def import_function(path: str, what: str) -> Callable:
    """The function at ``"package.module:name"`` (:func:`trainlab.registry.import_object`); errors name the field."""
    try:
        return import_object(path)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None


def custom_problem(residual: str, bounds: list[list[float]], boundary: str | None = None, exact: str | None = None,
                   time: bool = False) -> Problem:
    """A user's problem: ``residual(x, u) → r`` (shapes (n, d), (n, 1) → (n, 1)) and optional
    ``boundary(x) → g`` and ``exact(x) → u*`` (shapes (n, d) → (n, 1)), each by import path."""
    if not bounds or any(len(b) != 2 or not b[0] < b[1] for b in bounds):
        raise ValueError(f"bounds: {bounds!r} is not a box; expected [[low, high], …], one pair per coordinate "
                         "with low < high")
    if time and len(bounds) < 2:
        raise ValueError("time: a time-dependent problem needs a space coordinate and t (two bounds at least)")
    names = ("x", "y", "z")[: len(bounds) - time] + (("t",) if time else ())
    if len(names) != len(bounds):
        raise ValueError(f"bounds: {len(bounds)} coordinates; up to 3 space coordinates (plus t) are supported")
    return Problem(residual, f"r(x, u) = {residual}(x, u) = 0", names, tuple((float(a), float(b)) for a, b in bounds),
                   import_function(residual, "data.residual"),
                   import_function(boundary, "data.boundary") if boundary else None,
                   import_function(exact, "data.exact") if exact else None, time)
