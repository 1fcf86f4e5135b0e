"""Reports: self-contained HTML pages rendered from what a run recorded."""
