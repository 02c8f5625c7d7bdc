"""Console output that reads well on a terminal and in a CI log.

On a terminal, rich (colour, tables sized to the window, a live progress bar). Anywhere else,
plain text: every line printed whole, however long, tables as padded columns, so that nothing
(a table cell, a JSON body, a command to copy) is ever wrapped in the middle of a word.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO

from rich.console import Console
from rich.table import Table

__all__ = ["Output"]

_STYLES = {"ok": "green", "bad": "red", "warn": "yellow", "head": "bold"}


class Output:
    def __init__(self, stream: IO[str] | None = None, *, terminal: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.console = Console(file=self.stream, soft_wrap=True, highlight=False) if self.terminal else None

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.console is not None:
            self.console.print(text, style=_STYLES.get(style or "", style), markup=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, right: int = 0) -> None:
        """``right``: how many trailing columns are numbers (right-aligned)."""
        if self.console is not None:
            table = Table(title=title, title_justify="left")
            for k, column in enumerate(columns):
                numeric = k >= len(columns) - right
                table.add_column(column, justify="right" if numeric else "left", no_wrap=True, overflow="ellipsis")
            for row in rows:
                table.add_row(*row)
            self.console.print(table)
            return
        widths = [max(len(str(c)), *(len(str(r[k])) for r in rows)) if rows else len(c) for k, c in enumerate(columns)]

        def fmt(cells: Sequence[str]) -> str:
            parts = []
            for k, cell in enumerate(cells):
                numeric = k >= len(columns) - right
                parts.append(str(cell).rjust(widths[k]) if numeric else str(cell).ljust(widths[k]))
            return "  ".join(parts).rstrip()

        self.line(title)
        self.line(fmt(columns))
        self.line("  ".join("-" * w for w in widths))
        for row in rows:
            self.line(fmt(row))
