"""Query results as text: an aligned table, CSV or JSON lines (for ``evals-etl query``).

Pure: values in, text out. Numbers are printed as computed (Python's shortest round-trip
form, so ``round(x, 3)`` shows three decimals, not four), NULL is ``NULL`` in a table and
empty in CSV, and the IEEE specials are spelled the same way in every format: ``NaN``,
``Infinity`` and ``-Infinity`` (in JSON as those strings, since JSON has no such numbers).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

Rows = Sequence[tuple[Any, ...]]


def special(value: float) -> str | None:
    """``NaN``, ``Infinity`` or ``-Infinity`` for a non-finite float; None otherwise."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def text(value: Any) -> str:
    """One value as analysts read it: NULL spelled out, numbers as computed, UTC ISO times."""
    if value is None:
        return "NULL"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return special(value) or repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(plain(value), ensure_ascii=False)
    return str(value)


def table(columns: Sequence[str], rows: Rows, total: int | None = None) -> str:
    """An aligned table (numbers to the right) with a footer counting the rows.

    ``total``: how many rows the query produced, when more than ``rows`` are.
    """
    cells = [[text(v) for v in row] for row in rows]
    numeric = [
        all(_is_number(row[i]) or row[i] is None for row in rows) and any(
            row[i] is not None for row in rows)
        for i in range(len(columns))
    ]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)
        ).rstrip()

    out = [line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    if total is not None and total > len(rows):
        out.append(f"({len(rows):,} of {total:,} rows shown)")
    else:
        out.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(out)


def plain(value: Any) -> Any:
    """A JSON-safe copy: times as ISO text, decimals as floats, NaN/±inf as their names."""
    if isinstance(value, float):
        return special(value) or value
    if isinstance(value, Decimal):
        return plain(float(value))
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def csv_text(columns: Sequence[str], rows: Rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else _scalar(v) for v in row])
    return buffer.getvalue().rstrip("\n")


def json_lines(columns: Sequence[str], rows: Rows) -> str:
    return "\n".join(
        json.dumps(dict(zip(columns, plain(list(row)))), ensure_ascii=False, allow_nan=False)
        for row in rows
    )
