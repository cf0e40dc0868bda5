"""Render docs/tables.md from the schema module, so the table reference cannot drift.

Regenerate with ``python -m etl.tables_doc > docs/tables.md``; a test compares the two.
"""

from __future__ import annotations

from etl.schemas import TABLES


def render() -> str:
    lines = [
        "# Tables",
        "",
        "Generated from `etl/schemas.py` by `python -m etl.tables_doc`; do not edit by hand.",
        ("Every table also has the lineage columns `workspace`, `eval_id` (not `runs`), `run_id` "
         "and `fetched_at`. Grain = the columns that identify a current row."),
        "",
    ]
    for table in TABLES.values():
        source = f"`{table.panel}` endpoint" if table.panel else "the exporter itself"
        lines += [
            f"## `{table.name}`",
            "",
            f"{table.doc} Source: {source}. Grain: `{', '.join(table.grain)}`.",
            "",
            "| column | type | meaning |",
            "| --- | --- | --- |",
        ]
        for field in table.schema:
            doc = (field.metadata or {}).get(b"doc", b"").decode()
            lines.append(f"| `{field.name}` | `{field.type}` | {doc} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
