"""Input preprocessing by name, fitted on the training split only and saved with the model.

A preprocessor's fitted statistics are tensors (``state_dict``), stored in every checkpoint, so
prediction applies exactly the transform the model was trained with. Its recipe parameters
(``low``, ``k``, …) are constructor arguments, given again when a checkpoint is loaded.
"""
from __future__ import annotations

import torch

from trainlab.registry import preprocessors


class Preprocessor:
    """Base: ``fit`` on training inputs, then ``__call__`` on any inputs of the same shape."""

    def __init__(self) -> None:
        self.stats: dict[str, torch.Tensor] = {}

    def fit(self, x: torch.Tensor) -> Preprocessor:
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.stats)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.stats = dict(state)


@preprocessors.register("none")
class Identity(Preprocessor):
    """No preprocessing: x ↦ x."""


@preprocessors.register("center")
class Center(Preprocessor):
    """Center each feature: x ↦ x − μ, with μ of the training split (the lectures' first step: zero mean)."""

    def fit(self, x: torch.Tensor) -> Center:
        self.stats = {"mean": x.mean(dim=0)}
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.stats["mean"].to(x.device)


@preprocessors.register("zscore")
class ZScore(Preprocessor):
    """Standardize each feature: x ↦ (x − μ) / σ, with μ, σ of the training split (σ = 1 where 0)."""

    def fit(self, x: torch.Tensor) -> ZScore:
        std = x.std(dim=0, unbiased=False)
        self.stats = {"mean": x.mean(dim=0), "std": torch.where(std > 0, std, torch.ones_like(std))}
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.stats["mean"].to(x.device)) / self.stats["std"].to(x.device)


@preprocessors.register("minmax")
class MinMax(Preprocessor):
    """Scale each feature to [low, high]: x ↦ low + (high − low)(x − min)/(max − min), training min/max."""

    # Class-level annotations: the registry reads a class's parameter types from here.
    low: float
    high: float

    def __init__(self, low: float = 0.0, high: float = 1.0):
        super().__init__()
        if not low < high:
            raise ValueError(f"minmax needs low < high, got low={low}, high={high}")
        self.low, self.high = low, high

    def fit(self, x: torch.Tensor) -> MinMax:
        lo, hi = x.min(dim=0).values, x.max(dim=0).values
        span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        self.stats = {"min": lo, "span": span}
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        unit = (x - self.stats["min"].to(x.device)) / self.stats["span"].to(x.device)
        return self.low + (self.high - self.low) * unit


@preprocessors.register("pca_whiten")
class PCAWhiten(Preprocessor):
    """PCA whitening: x ↦ D^{-1/2} Vᵀ(x − μ), from the SVD X − μ = U S Vᵀ of the training split, D = S²/n.

    The columns of V are the principal directions and D their variances, so the whitened training
    data has identity covariance (up to ``eps``: the variances become D/(D + eps)). Inputs are
    flattened to vectors of d features; the output has ``k`` features, so a model must be built
    for the transformed shape (k,), not the data's.

    Args:
        k: keep the ``k`` leading components (default: all d).
        variance: keep the fewest leading components whose explained-variance share
            Σ_{j≤k} D_j / Σ_j D_j reaches this fraction, e.g. 0.99. At most one of ``k``, ``variance``.
        eps: added to D before the inverse square root, so near-constant directions are not
            blown up to unit variance.

    V and D are computed as the eigenvectors and eigenvalues of the d×d covariance (X − μ)ᵀ(X − μ)/n
    in float64: the same V and S²/n as the SVD, without the n×d matrix U. Each direction's sign is
    fixed (its largest entry positive) so the transform does not depend on the LAPACK build.
    """

    k: int | None
    variance: float | None
    eps: float

    def __init__(self, k: int | None = None, variance: float | None = None, eps: float = 1e-5):
        super().__init__()
        if k is not None and variance is not None:
            raise ValueError(f"pca_whiten takes k or variance, not both (got k={k}, variance={variance})")
        if k is not None and k < 1:
            raise ValueError(f"pca_whiten needs k >= 1, got {k}")
        if variance is not None and not 0 < variance <= 1:
            raise ValueError(f"pca_whiten needs 0 < variance <= 1, got {variance}")
        if eps < 0:
            raise ValueError(f"pca_whiten needs eps >= 0, got {eps}")
        self.k, self.variance, self.eps = k, variance, eps

    def fit(self, x: torch.Tensor) -> PCAWhiten:
        centered = x.reshape(len(x), -1).to(torch.float64, copy=True)  # (n, d)
        mean = centered.mean(dim=0)
        centered -= mean
        variances, directions = torch.linalg.eigh(centered.T @ centered / len(x))  # ascending
        variances, directions = variances.flip(0).clamp(min=0), directions.flip(1)  # (d,), (d, d) by column
        directions *= torch.sign(directions.gather(0, directions.abs().argmax(0, keepdim=True)))
        k = self._components(variances)
        projection = directions[:, :k] / torch.sqrt(variances[:k] + self.eps)  # V_k D_k^{-1/2}: (d, k)
        self.stats = {"mean": mean.float(), "projection": projection.float().contiguous(),
                      "variances": variances.float()}
        return self

    def _components(self, variances: torch.Tensor) -> int:
        d = len(variances)
        if self.k is not None:
            if self.k > d:
                raise ValueError(f"pca_whiten: k={self.k} components asked for, but the data has {d} features")
            return self.k
        if self.variance is None or variances.sum() == 0:
            return d
        share = variances.cumsum(0) / variances.sum()
        # The first k whose share reaches the target; the tolerance absorbs rounding at variance=1.
        return min(int((share < self.variance - 1e-12).sum()) + 1, d)

    def explained_variance(self) -> float:
        """The share of the training variance the kept components explain, Σ_{j≤k} D_j / Σ_j D_j."""
        variances = self.stats["variances"]
        return float(variances[: self.stats["projection"].shape[1]].sum() / variances.sum())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1) - self.stats["mean"].to(x)  # (n, d)
        return flat @ self.stats["projection"].to(flat)  # (n, k)
