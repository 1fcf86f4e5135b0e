"""The run report's "Snapshot ensemble" section, from run.json's ``snapshots`` entry."""
from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from trainlab.ensemble import table_rows


def snapshots_html(summary: Mapping[str, Any], single: Mapping[str, float] | None = None) -> str:
    """The report's "Snapshot ensemble" section from run.json's ``snapshots`` (and ``test``) entries."""
    metrics = summary["metrics"]
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    body = "".join(f"<tr><th>{html.escape(label)}</th>"
                   + "".join(f"<td>{row.get(m, float('nan')):.4f}</td>" for m in metrics) + "</tr>"
                   for label, row in table_rows(summary, single))
    return (f"<h2>Snapshot ensemble</h2><p>Mean of the members' predictions on the {html.escape(summary['split'])} "
            f"split, beside each member and the final model.</p><table><tr><th></th>{head}</tr>{body}</table>")
