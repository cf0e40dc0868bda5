"""How a file's path is written into DuckDB SQL so that DuckDB opens exactly that file.

DuckDB reads the path handed to ``read_parquet`` as a glob pattern as soon as it holds ``*``,
``?`` or ``[``: ``/data/k[ab]/data.parquet`` would read ``/data/ka/data.parquet``, and a folder
named ``x[1]?`` matches nothing. :func:`pattern` wraps each of those characters in brackets
(``[`` becomes ``[[]``), which DuckDB's glob matches as the character itself, so the pattern
names the one file whatever the folder is called (spaces, quotes, unicode, ``{``, ``%`` and
``:`` need nothing). :func:`literal` is that pattern as a single-quoted SQL string.

One case has no escape: DuckDB's glob also splits a pattern at ``\\``, so a path holding both a
backslash and a glob character is written as it is. DuckDB then reads it literally when, read
as a pattern, it matches no file; :func:`unescapable` tells a caller to check that with
DuckDB's ``glob()`` (the views and the merge do, and refuse a path that would name another
file).
"""

from __future__ import annotations

GLOB_CHARACTERS = frozenset("*?[]")


def unescapable(path: str) -> bool:
    """Whether DuckDB's glob cannot be told to take ``path`` literally."""
    return "\\" in path and any(c in GLOB_CHARACTERS for c in path)


def pattern(path: str) -> str:
    """``path`` as a DuckDB file pattern that matches only ``path`` itself."""
    if unescapable(path) or not any(c in GLOB_CHARACTERS for c in path):
        return path
    return "".join(f"[{c}]" if c in GLOB_CHARACTERS else c for c in path)


def literal(path: str) -> str:
    """:func:`pattern` as a SQL string literal (single quotes doubled)."""
    return "'" + pattern(path).replace("'", "''") + "'"
