"""Physics-informed training (PINNs) as a task family ``pde``: problems defined by a residual written
with torch.autograd, collocation points as a data set, the network inside its residual, the ``pde``
loss and the ``rel_l2`` metric.

- :mod:`trainlab.pde.problems`: the problems (built-ins, your own by import path) and :func:`partial`;
- :mod:`trainlab.pde.dataset`: the ``pde`` data set (collocation points, the test grid);
- :mod:`trainlab.pde.physics`: the model wrapper, loss, metric, resampling and the run's setup.
"""
from trainlab.pde.dataset import PDEData, pde
from trainlab.pde.physics import PhysicsInformed, physics_informed, solution
from trainlab.pde.problems import BUILT_IN, Problem, partial

__all__ = ["BUILT_IN", "PDEData", "PhysicsInformed", "Problem", "partial", "pde", "physics_informed", "solution"]
