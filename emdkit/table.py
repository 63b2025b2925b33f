"""The one Markdown table renderer (the comparison table, every benchmark report)."""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence


def markdown(header: Sequence[str], rows: Iterable[Sequence], align: Optional[str] = None,
             ) -> List[str]:
    """The lines of a Markdown table: ``header``, the alignment row, one line per row.

    ``align`` has one letter per column, ``l`` (left) or ``r`` (right, for numbers);
    default: the first column left, the others right. Cells are written with
    ``str``, and a ``|`` inside a cell becomes ``/`` so that it cannot split the row.

    >>> print("\\n".join(markdown(["method", "value"], [["exact", 1.0]])))
    | method | value |
    |---|---:|
    | exact | 1.0 |
    """
    header = list(header)
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(f"align needs one of 'l'/'r' per column ({len(header)}), "
                         f"got {align!r}")
    out = [_line(header), "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"]
    for row in rows:
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells for {len(header)} columns: {row!r}")
        out.append(_line(str(c).replace("|", "/") for c in row))
    return out


def _line(cells) -> str:
    return "| " + " | ".join(cells) + " |"
