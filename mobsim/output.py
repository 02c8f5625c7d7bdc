"""Console output that reads well on a terminal and in a CI log.

On a terminal, rich: colour, a live progress line, prose wrapped at spaces to the window, and tables
that fit it or else become stacked lines. Anywhere else (a CI log, a pipe), plain text: every line
printed whole, however long, tables as padded columns. Either way nothing (a table cell, a JSON
body, a command to copy) is wrapped in the middle of a word.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO

from rich.console import Console
from rich.status import Status
from rich.table import Table
from rich.text import Text

__all__ = ["Output"]

_STYLES = {"ok": "green", "bad": "red", "warn": "yellow", "head": "bold"}


class Output:
    def __init__(self, stream: IO[str] | None = None, *, terminal: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.console = Console(file=self.stream, highlight=False) if self.terminal else None
        self._status: Status | None = None

    def progress(self, text: str) -> None:
        """A progress report: one live line on a terminal, a plain line in a log."""
        if self.console is None:
            self.line(text)
            return
        if self._status is None:
            self._status = self.console.status(Text(text))
            self._status.start()
        else:
            self._status.update(Text(text))

    def end_progress(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.console is not None:
            self.end_progress()
            self.console.print(text, style=_STYLES.get(style or "", style), markup=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, right: int = 0) -> None:
        """``right``: how many trailing columns are numbers (right-aligned).

        A log gets padded columns, each row one whole line. A terminal gets a rich table when it is
        wide enough for every cell in full; a narrower one gets each row as a line of its text
        columns and an indented line of ``name value`` pairs, so nothing is ever cut or wrapped.
        """
        widths = [max([len(str(c)), *(len(str(r[k])) for r in rows)]) for k, c in enumerate(columns)]
        if self.console is None:
            self._padded(title, columns, rows, widths, right)
        elif sum(widths) + 3 * len(columns) + 1 <= self.console.width:
            table = Table(title=title, title_justify="left")
            for k, column in enumerate(columns):
                numeric = k >= len(columns) - right
                table.add_column(column, justify="right" if numeric else "left", no_wrap=True, min_width=widths[k])
            for row in rows:
                table.add_row(*row)
            self.end_progress()
            self.console.print(table)
        else:
            self.line(title, "head")
            cut = len(columns) - right
            for row in rows:
                self.line("  ".join(str(cell) for cell in row[:cut] if str(cell)))
                self.line(
                    "    " + ", ".join(f"{name} {value}" for name, value in zip(columns[cut:], row[cut:], strict=True))
                )

    def _padded(
        self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], widths: list[int], right: int
    ) -> None:
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
