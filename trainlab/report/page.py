"""The one HTML page template: every trainlab page (run, comparison, search, lab and lr-find reports)
is a body wrapped by :func:`render_page`, styled by the one stylesheet ``page.css``.

The stylesheet is inlined, so a page is a single self-contained file (no scripts, nothing fetched).
Title, heading and navigation are escaped here; the body is HTML its writer has already escaped.

>>> page = render_page("a <b> run", "<p>body</p>", heading="Run <b>", nav=[("x/report.html", "run x")])
>>> page.startswith("<!DOCTYPE html>") and "<title>a &lt;b&gt; run</title>" in page
True
>>> "<h1>Run &lt;b&gt;</h1>" in page and "<a href=\\"x/report.html\\">run x</a>" in page
True
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from functools import cache
from importlib.resources import files


@cache
def stylesheet() -> str:
    """The text of ``trainlab/report/page.css`` (package data), read once."""
    return files("trainlab.report").joinpath("page.css").read_text(encoding="utf-8")


def render_page(title: str, body: str, *, heading: str | None = None,
                nav: Sequence[tuple[str, str]] = ()) -> str:
    """A whole HTML page: doctype, charset, ``title``, the inlined stylesheet, then an optional
    ``<h1>heading</h1>``, an optional ``<nav>`` of ``(href, label)`` links, and ``body`` as given."""
    e = html.escape
    top = f"<h1>{e(heading)}</h1>\n" if heading is not None else ""
    if nav:
        top += "<nav>" + "".join(f'<a href="{e(href)}">{e(label)}</a>' for href, label in nav) + "</nav>\n"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>\n'
            f"<style>\n{stylesheet()}</style></head><body>\n{top}{body}\n</body></html>\n")
