"""The terminal's tables in other forms: Markdown (for a PR comment or a README) and JSON records
(for scripts). A rich Table keeps its cells per column; these read them back as plain text."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text


def plain(cell: Any) -> str:
    """A cell as plain text: rich markup and styles dropped."""
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain
    return str(cell)


def rows(table: Table) -> tuple[list[str], list[list[str]]]:
    """(column headers, rows) of ``table`` as plain text."""
    headers = [plain(column.header) for column in table.columns]
    cells = [[plain(c) for c in column._cells] for column in table.columns]  # rich keeps the cells per column
    return headers, [list(row) for row in zip(*cells)] if cells else []


def to_markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown table, its title as a bold line above it."""
    headers, body = rows(table)
    escape = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = [f"**{escape(plain(table.title))}**", ""] if table.title else []
    lines.append("| " + " | ".join(escape(h) for h in headers) + " |")
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def to_records(table: Table) -> dict[str, Any]:
    """``{"title": ..., "columns": [...], "rows": [{column: cell}, ...]}``."""
    headers, body = rows(table)
    return {"title": plain(table.title) if table.title else None, "columns": headers,
            "rows": [dict(zip(headers, row)) for row in body]}
