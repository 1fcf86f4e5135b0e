"""Diagnostics: probes record per-layer activation and gradient statistics during training
(:mod:`trainlab.diagnose.probes`, drawn in the report by :mod:`trainlab.report.probes`); the doctor
reads them with the learning curves from a run directory, reports what is wrong and which technique
fixes it, and writes its findings to ``findings.json``, which the report renders."""
