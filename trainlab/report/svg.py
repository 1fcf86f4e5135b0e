"""Matplotlib figures as inline SVG for self-contained HTML reports."""
from __future__ import annotations

import io

from matplotlib.figure import Figure


def svg_text(fig: Figure) -> str:
    """``fig`` as an ``<svg>`` element (the XML prologue dropped), ready to paste into HTML."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]
