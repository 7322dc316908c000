"""Plain-text and markdown tables for the benchmarks' reports.

>>> print(render(["a", "bb"], [["1", "2"]]))
a  bb
-  --
1  2
>>> print(render(["a", "bb"], [["1", "2"]], markdown=True))
| a | bb |
|---|---|
| 1 | 2 |
"""

from __future__ import annotations

from collections.abc import Sequence


def render(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    """Columns padded to their widest cell (or a markdown table); cells are strings."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(r[i]) for r in [list(header), *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)
