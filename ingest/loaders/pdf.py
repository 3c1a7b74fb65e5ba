"""PDF through pypdf, using font sizes and positions to recover structure.

Headings are set in a larger (or bold) font, footnotes in a smaller one at the page bottom, and
footnote references are small raised digits; pypdf's text visitor reports all of this, so the
page text can be turned into headings, paragraphs and footnotes with page numbers kept.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ingest.blocks import Block, LoadError, footnote_mark
from ingest.cleaning import (
    ends_sentence,
    is_page_debris,
    normalise_spaces,
    repair_hyphenation,
    repeated_furniture,
    strip_invisible,
)
from ingest.sections import numbering_depth

_FOOTNOTE_START = re.compile(r"^\(?(\d{1,3})\)?[\s.)]+(\S.*)$")


@dataclass
class _Run:
    text: str
    x: float
    y: float
    size: float
    bold: bool
    rise: float = 0.0  # text rise (Ts): how superscripts are often set


@dataclass
class _Line:
    y: float
    size: float
    bold: bool
    text: str = ""
    lead_mark: bool = False  # so far only a raised footnote number opening the line


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs its repairs of damaged files ("EOF marker not found") without naming the file;
    the loader reports one clear error per file instead."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _open(path: Path):
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PdfStreamError

    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except (NotImplementedError, DependencyError) as exc:
                raise LoadError(f"encrypted PDF with an unsupported cipher ({exc})") from exc
            if not ok:
                raise LoadError("encrypted PDF: a password is required to read it")
        _ = len(reader.pages)
        return reader
    except LoadError:
        raise
    except FileNotDecryptedError as exc:
        raise LoadError("encrypted PDF: a password is required to read it") from exc
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"corrupted or unreadable PDF ({type(exc).__name__}: {exc})") from exc


def _page_runs(page) -> list[_Run]:
    runs: list[_Run] = []
    # Text rise is not part of the matrices pypdf reports: follow Ts (saved and restored with
    # q/Q) and remember the rise in force at the first show-text operator of each run.
    state = {"rise": 0.0}
    saved: list[float] = []
    shown: list[float] = []

    def before(operator, operands, cm, tm):
        if operator == b"Ts" and operands:
            state["rise"] = float(operands[0])
        elif operator == b"q":
            saved.append(state["rise"])
        elif operator == b"Q" and saved:
            state["rise"] = saved.pop()
        elif operator in (b"Tj", b"TJ", b"'", b'"'):
            shown.append(state["rise"])

    def visit(text, cm, tm, font_dict, font_size):
        if not text:
            return
        rise = state["rise"]
        if text.replace("\n", ""):
            rise = shown[0] if shown else rise
            shown.clear()
        scale_y = abs(tm[3] * cm[3]) or abs(tm[0] * cm[0]) or 1.0
        size = float(font_size) * scale_y if font_size else 0.0
        x = tm[4] * cm[0] + cm[4]
        y = tm[5] * cm[3] + cm[5]
        base = str((font_dict or {}).get("/BaseFont", "")) if font_dict else ""
        bold = "bold" in base.lower() or "black" in base.lower()
        runs.append(_Run(text, float(x), float(y), round(size, 1), bold, rise * scale_y))

    page.extract_text(visitor_text=visit, visitor_operand_before=before)
    return runs


def _lines(runs: list[_Run], body_size: float) -> list[_Line]:
    """Runs grouped into lines by baseline. pypdf's own line breaks are ignored: it reports
    one before a raised footnote number too, and with a meaningless position."""
    lines: list[_Line] = []
    for run in runs:
        for piece in run.text.split("\n"):
            if not piece:
                continue
            line = lines[-1] if lines else None
            small_number = run.size < body_size * 0.85 and piece.strip().isdigit()
            raised = small_number and (
                run.rise > 0.5 or (line is not None and run.y > line.y + 1.0)
            )
            same_line = line is not None and abs(run.y - line.y) <= max(2.0, 0.5 * run.size)
            in_text = line is not None and bool(line.text.strip()) and not line.lead_mark
            if raised and in_text and (same_line or 0 < run.y - line.y <= max(line.size, 1.0)):
                line.text += footnote_mark(piece.strip())  # a reference in running text
                continue
            if (
                line is not None
                and line.lead_mark
                and abs(run.y - line.y) <= max(2.0, 0.8 * max(run.size, line.size))
            ):
                # The footnote's own text after its raised number: same line, its baseline.
                line.y, line.size, line.bold, line.lead_mark = run.y, run.size, run.bold, False
                line.text += piece
                continue
            if line is None or not same_line or line.lead_mark:
                line = _Line(y=run.y, size=run.size, bold=run.bold)
                lines.append(line)
                if raised:  # a raised number opening a line numbers a footnote
                    line.text, line.lead_mark = piece.strip() + " ", True
                    continue
                line.text = piece
                continue
            line.size = max(line.size, run.size)
            line.bold = line.bold and run.bold
            line.text += piece
    return [ln for ln in lines if ln.text.strip()]


def _body_size(runs: list[_Run]) -> float:
    counts: Counter[float] = Counter()
    for run in runs:
        counts[run.size] += len(run.text.strip())
    return counts.most_common(1)[0][0] if counts else 10.0


def _join_lines(first: str, second: str) -> str:
    """Join two lines of one paragraph, repairing a word hyphenated across them."""
    return normalise_spaces(repair_hyphenation(first + "\n" + second).replace("\n", " "))


class _Assembler:
    """Turns the lines of successive pages into blocks."""

    def __init__(self, body: float, furniture: set[str]) -> None:
        self.body = body
        self.furniture = furniture
        self.blocks: list[Block] = []
        # The last paragraph of the previous page when it stops mid-sentence: the first
        # paragraph of the next page continues it (maybe finishing a hyphenated word).
        self.carry: Block | None = None

    def _flush(self, paragraph: list[_Line], page_no: int) -> Block | None:
        if not paragraph:
            return None
        text = paragraph[0].text
        for ln in paragraph[1:]:
            text = _join_lines(text, ln.text)
        paragraph.clear()
        if self.carry is not None:
            block, self.carry = self.carry, None
            block.text = _join_lines(block.text, text)
            block.page_end = page_no
            return block
        block = Block(kind="paragraph", text=text, page=page_no)
        self.blocks.append(block)
        return block

    def page(self, page_no: int, lines: list[_Line]) -> None:
        blocks, body = self.blocks, self.body
        bottom = min((ln.y for ln in lines), default=0.0)
        top = max((ln.y for ln in lines), default=0.0)
        paragraph: list[_Line] = []
        in_footnote = False
        last: Block | None = None  # the page's last paragraph so far
        headed = False  # a heading came after it
        previous: _Line | None = None
        heading_line: _Line | None = None
        for ln in lines:
            text = normalise_spaces(strip_invisible(ln.text))
            if not text or is_page_debris(text) or re.sub(r"\d+", "#", text) in self.furniture:
                continue
            ln.text = text
            small = ln.size < body * 0.9
            low = ln.y < bottom + (top - bottom) * 0.35
            if small and low and (m := _FOOTNOTE_START.match(text)):
                if block := self._flush(paragraph, page_no):
                    last, headed = block, False
                blocks.append(
                    Block(kind="footnote", text=m.group(2), page=page_no, footnote_id=m.group(1))
                )
                in_footnote = True
                continue
            if small and in_footnote and blocks and blocks[-1].kind == "footnote":
                blocks[-1].text = _join_lines(blocks[-1].text, text)
                continue
            in_footnote = False
            is_heading = (ln.size >= body * 1.15 or (ln.bold and len(text) < 120)) and len(
                text
            ) < 200
            if is_heading:
                if block := self._flush(paragraph, page_no):
                    last = block
                self.carry, headed = None, True
                wrapped = (
                    heading_line is not None
                    and blocks
                    and blocks[-1].kind == "heading"
                    and abs(heading_line.size - ln.size) < 0.5
                    and heading_line.bold == ln.bold
                    and 0 < heading_line.y - ln.y <= 1.6 * ln.size
                    and not numbering_depth(text)
                )
                if wrapped:  # a long heading set on two lines is one heading
                    blocks[-1].text = _join_lines(blocks[-1].text, text)
                else:
                    level = 1 if ln.size >= body * 1.5 else 2 if ln.size >= body * 1.15 else 3
                    blocks.append(Block(kind="heading", text=text, level=level, page=page_no))
                heading_line, previous = ln, None
                continue
            heading_line = None
            gap = (previous.y - ln.y) if previous is not None else 0.0
            if (
                previous is not None
                and gap > 1.6 * max(ln.size, 1.0)
                and (block := self._flush(paragraph, page_no))
            ):
                last, headed = block, False
            paragraph.append(ln)
            previous = ln
        if block := self._flush(paragraph, page_no):
            last, headed = block, False
        self.carry = last if last and not headed and not ends_sentence(last.text) else None


def load_pdf_file(path: Path) -> list[Block]:
    with _quiet_pypdf():
        reader = _open(path)
        try:
            page_runs = [_page_runs(page) for page in reader.pages]
        except LoadError:
            raise
        except Exception as exc:  # pypdf raises many internal types on damaged content streams
            raise LoadError(f"corrupted PDF content ({type(exc).__name__}: {exc})") from exc
    all_runs = [r for runs in page_runs for r in runs]
    if not any(r.text.strip() for r in all_runs):
        raise LoadError(
            "no text layer (a scanned or image-only PDF); run OCR on it first, e.g. ocrmypdf"
        )
    body = _body_size(all_runs)
    pages = [_lines(runs, body) for runs in page_runs]
    assembler = _Assembler(body, repeated_furniture([[ln.text for ln in page] for page in pages]))
    for page_no, lines in enumerate(pages, start=1):
        assembler.page(page_no, lines)
    return assembler.blocks
