"""Diagnostics: probes record per-layer activation and gradient statistics during training
(:mod:`trainlab.diagnose.probes`, drawn by :mod:`trainlab.diagnose.plots`); the doctor reads them
with the learning curves and reports what is wrong and which technique fixes it."""
