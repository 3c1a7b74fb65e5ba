"""PDF through pypdf, using font sizes and positions to recover structure.

Headings are set in a larger (or bold) font, footnotes in a smaller one at the page bottom, and
footnote references are small raised digits; pypdf's text visitor reports all of this, so the
page text can be turned into headings, paragraphs and footnotes with page numbers kept.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ingest.blocks import Block, LoadError, footnote_mark
from ingest.cleaning import (
    is_page_debris,
    normalise_spaces,
    repair_hyphenation,
    repeated_furniture,
    strip_invisible,
)

_FOOTNOTE_START = re.compile(r"^\(?(\d{1,3})\)?[\s.)]+(\S.*)$")


@dataclass
class _Run:
    text: str
    x: float
    y: float
    size: float
    bold: bool


@dataclass
class _Line:
    y: float
    size: float
    bold: bool
    text: str = ""


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

    def visit(text, cm, tm, font_dict, font_size):
        if not text:
            return
        scale_y = abs(tm[3] * cm[3]) or abs(tm[0] * cm[0]) or 1.0
        size = float(font_size) * scale_y if font_size else 0.0
        x = tm[4] * cm[0] + cm[4]
        y = tm[5] * cm[3] + cm[5]
        base = str((font_dict or {}).get("/BaseFont", "")) if font_dict else ""
        bold = "bold" in base.lower() or "black" in base.lower()
        runs.append(_Run(text, float(x), float(y), round(size, 1), bold))

    page.extract_text(visitor_text=visit)
    return runs


def _lines(runs: list[_Run], body_size: float) -> list[_Line]:
    lines: list[_Line] = []
    for run in runs:
        for i, piece in enumerate(run.text.split("\n")):
            if i > 0 and lines and lines[-1].text:
                lines.append(_Line(y=run.y, size=run.size, bold=run.bold))
            if not piece:
                continue
            line = lines[-1] if lines else None
            raised = (
                line is not None
                and line.text
                and run.size < body_size * 0.85
                and run.y > line.y + 1.0
                and piece.strip().isdigit()
            )
            if raised and line is not None:
                line.text += footnote_mark(piece.strip())
                continue
            if line is None or (line.text and abs(run.y - line.y) > max(2.0, 0.5 * run.size)):
                line = _Line(y=run.y, size=run.size, bold=run.bold)
                lines.append(line)
            if not line.text:
                line.y, line.size, line.bold = run.y, run.size, run.bold
            else:
                line.size = max(line.size, run.size)
                line.bold = line.bold and run.bold
            line.text += piece
    return [ln for ln in lines if ln.text.strip()]


def _body_size(runs: list[_Run]) -> float:
    counts: Counter[float] = Counter()
    for run in runs:
        counts[run.size] += len(run.text.strip())
    return counts.most_common(1)[0][0] if counts else 10.0


def _flush_paragraph(paragraph: list[_Line], page: int, blocks: list[Block]) -> None:
    if paragraph:
        text = repair_hyphenation("\n".join(ln.text for ln in paragraph))
        text = normalise_spaces(text.replace("\n", " "))
        blocks.append(Block(kind="paragraph", text=text, page=page))
    paragraph.clear()


def load_pdf_file(path: Path) -> list[Block]:
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
    furniture = repeated_furniture([[ln.text for ln in page] for page in pages])

    blocks: list[Block] = []
    for page_no, lines in enumerate(pages, start=1):
        bottom = min((ln.y for ln in lines), default=0.0)
        top = max((ln.y for ln in lines), default=0.0)
        paragraph: list[_Line] = []
        footnote: _Line | None = None

        def flush() -> None:
            _flush_paragraph(paragraph, page_no, blocks)  # noqa: B023 - runs inside the loop

        previous: _Line | None = None
        for ln in lines:
            text = normalise_spaces(strip_invisible(ln.text))
            if not text or is_page_debris(text) or re.sub(r"\d+", "#", text) in furniture:
                continue
            ln.text = text
            small = ln.size < body * 0.9
            low = ln.y < bottom + (top - bottom) * 0.35
            if small and low and (m := _FOOTNOTE_START.match(text)):
                flush()
                footnote = _Line(y=ln.y, size=ln.size, bold=False, text=m.group(2))
                blocks.append(
                    Block(kind="footnote", text=m.group(2), page=page_no, footnote_id=m.group(1))
                )
                continue
            if small and footnote is not None and blocks and blocks[-1].kind == "footnote":
                blocks[-1].text = normalise_spaces(blocks[-1].text + " " + text)
                continue
            footnote = None
            is_heading = (ln.size >= body * 1.15 or (ln.bold and len(text) < 120)) and len(
                text
            ) < 200
            if is_heading:
                flush()
                level = 1 if ln.size >= body * 1.5 else 2 if ln.size >= body * 1.15 else 3
                blocks.append(Block(kind="heading", text=text, level=level, page=page_no))
                previous = None
                continue
            gap = (previous.y - ln.y) if previous is not None else 0.0
            if previous is not None and gap > 1.6 * max(ln.size, 1.0):
                flush()
            paragraph.append(ln)
            previous = ln
        flush()
    return blocks
