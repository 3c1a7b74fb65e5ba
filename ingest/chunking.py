"""Structure-aware chunking: blocks -> chunks sized for the embedding model.

Rules: a chunk stays inside one section; it ends at a paragraph or sentence boundary; a
footnote travels with the sentence that cites it (the strategy's statistics live in
footnotes); a table is never split; exact repeats of a paragraph within a section (web page
debris) are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from common.schema import CHUNKER_VERSION, Chunk, DocumentMeta, chunk_id
from common.sentences import split_sentences
from ingest.blocks import FOOTNOTE_MARK, Block
from ingest.sections import SectionTracker, is_section_heading

TokenCounter = Callable[[str], int]


@dataclass
class _Unit:
    """A paragraph (or a sentence group of a long one) with what it needs to be cited."""

    text: str
    section: str
    page: int | None
    start: int
    end: int
    footnotes: list[tuple[str, str]] = field(default_factory=list)
    table: bool = False
    raw: str = ""  # the text with footnote marks, for splitting a long paragraph


def footnote_line(footnote_id: str, text: str) -> str:
    return f"Footnote ({footnote_id}): {text}"


def _resolve_footnotes(blocks: list[Block]) -> tuple[dict[tuple[int, str], str], set[int]]:
    """Map (paragraph index, footnote id) to the footnote text defined next after it.

    Numbering may restart (a decision and its annex), so the nearest following definition
    wins. Returns the mapping and the indexes of footnote blocks that something cites.
    """
    resolved: dict[tuple[int, str], str] = {}
    used: set[int] = set()
    for i, block in enumerate(blocks):
        if block.kind not in ("paragraph", "table"):
            continue
        for fid in FOOTNOTE_MARK.findall(block.text):
            for j in range(i + 1, len(blocks)):
                if blocks[j].kind == "footnote" and blocks[j].footnote_id == fid:
                    resolved[(i, fid)] = blocks[j].text
                    used.add(j)
                    break
    return resolved, used


def _units(blocks: list[Block]) -> list[_Unit]:
    resolved, used = _resolve_footnotes(blocks)
    tracker = SectionTracker()
    units: list[_Unit] = []
    seen: set[tuple[str, str]] = set()
    offset = 0
    for i, block in enumerate(blocks):
        if block.kind == "heading" and is_section_heading(block.text):
            tracker.push(block.text, block.level)
            offset += len(block.text) + 2
            continue
        if block.kind == "footnote" and i in used:
            continue
        refs = FOOTNOTE_MARK.findall(block.text)
        if block.kind == "footnote":
            text = footnote_line(block.footnote_id, block.text)
        else:
            text = FOOTNOTE_MARK.sub("", block.text)
        key = (tracker.path, text)
        if key in seen:
            continue
        seen.add(key)
        footnotes = [
            (fid, resolved[(i, fid)]) for fid in dict.fromkeys(refs) if (i, fid) in resolved
        ]
        units.append(
            _Unit(
                text=text,
                section=tracker.path,
                page=block.page,
                start=offset,
                end=offset + len(text),
                footnotes=footnotes,
                table=block.kind == "table",
                raw=block.text,
            )
        )
        offset += len(text) + 2
    return units


def _unit_tokens(unit: _Unit, count: TokenCounter) -> int:
    notes = "\n".join(footnote_line(f, t) for f, t in unit.footnotes)
    return count(unit.text + ("\n" + notes if notes else ""))


def _split_long(unit: _Unit, count: TokenCounter, max_tokens: int) -> list[_Unit]:
    """Split a paragraph too big for one chunk at sentence boundaries; each piece keeps the
    footnotes its own sentences cite."""
    raw = unit.raw or unit.text
    notes = dict(unit.footnotes)
    pieces: list[_Unit] = []
    current_raw: list[str] = []

    def emit() -> None:
        if not current_raw:
            return
        raw_text = " ".join(current_raw)
        text = FOOTNOTE_MARK.sub("", raw_text)
        refs = [f for f in dict.fromkeys(FOOTNOTE_MARK.findall(raw_text)) if f in notes]
        prev_end = pieces[-1].end + 1 if pieces else unit.start
        pieces.append(
            _Unit(
                text,
                unit.section,
                unit.page,
                prev_end,
                prev_end + len(text),
                [(f, notes[f]) for f in refs],
            )
        )
        current_raw.clear()

    for a, b in split_sentences(raw):
        sentence = raw[a:b]
        candidate = " ".join([*current_raw, sentence])
        trial = _Unit(
            FOOTNOTE_MARK.sub("", candidate),
            unit.section,
            unit.page,
            0,
            0,
            [(f, notes[f]) for f in FOOTNOTE_MARK.findall(candidate) if f in notes],
        )
        if current_raw and _unit_tokens(trial, count) > max_tokens:
            emit()
        current_raw.append(sentence)
    emit()
    return pieces


def chunk_blocks(
    blocks: list[Block],
    doc: DocumentMeta,
    count_tokens: TokenCounter,
    max_tokens: int,
) -> list[Chunk]:
    """Greedy packing of a section's paragraphs up to `max_tokens` (the model's window)."""
    units: list[_Unit] = []
    for unit in _units(blocks):
        if not unit.table and _unit_tokens(unit, count_tokens) > max_tokens:
            units.extend(_split_long(unit, count_tokens, max_tokens))
        else:
            units.append(unit)

    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    current_tokens = 0
    for unit in units:
        tokens = _unit_tokens(unit, count_tokens)
        same_section = bool(current) and current[0].section == unit.section
        if same_section and current_tokens + tokens <= max_tokens:
            current.append(unit)
            current_tokens += tokens
            continue
        if current:
            groups.append(current)
        current, current_tokens = [unit], tokens
    if current:
        groups.append(current)

    chunks: list[Chunk] = []
    occurrences: dict[tuple[str, str], int] = {}
    for ordinal, group in enumerate(groups):
        body = "\n\n".join(u.text for u in group)
        notes = list(dict.fromkeys(n for u in group for n in u.footnotes))
        text = body + ("\n\n" + "\n".join(footnote_line(f, t) for f, t in notes) if notes else "")
        section = group[0].section
        key = (section, text)
        occurrences[key] = occurrences.get(key, 0) + 1
        pages = [u.page for u in group if u.page is not None]
        chunks.append(
            Chunk(
                id=chunk_id(doc.doc_id, section, text, occurrences[key]),
                doc=doc,
                ordinal=ordinal,
                text=text,
                section_path=section,
                page=min(pages) if pages else None,
                page_end=max(pages) if pages else None,
                char_start=group[0].start,
                char_end=group[-1].end,
                footnotes=[f for f, _ in notes],
                block="table" if any(u.table for u in group) else "text",
                chunker_version=CHUNKER_VERSION,
            )
        )
    return chunks
