"""Markdown and plain text: `#` and wiki (`== x ==`) headings, heading-like short lines in plain
text, `<sup>N</sup>` footnote markers with their definitions, tab or pipe tables kept whole."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from ingest.blocks import Block, LoadError, footnote_mark
from ingest.cleaning import (
    is_page_debris,
    normalise_spaces,
    repair_hyphenation,
    repeated_short_lines,
    strip_invisible,
)

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_WIKI_HEADING = re.compile(r"^(={1,6})\s*(.+?)\s*\1\s*$")
_FOOTNOTE_DEF = re.compile(r"^(?:<sup>\s*\(?(\d{1,3})\)?\s*</sup>|\[\^(\d{1,3})\]:)\s*(.+)$")
_FOOTNOTE_REF = re.compile(r"\s?<sup>\s*\(?(\d{1,3})\)?\s*</sup>|\[\^(\d{1,3})\](?!:)")
# "(12) Joint Communication ...": a footnote defined without markup (converted documents mix
# both forms); read as a footnote only when "<sup>(12)</sup>" is cited and defined nowhere else,
# so numbered recitals and list items are never mistaken for footnotes.
_PLAIN_FOOTNOTE_DEF = re.compile(r"^\((\d{1,3})\)\s+(.+)$")
_OTHER_SUP = re.compile(r"</?sup>")
_HTML_TAG = re.compile(r"</?(?:b|i|strong|em|u|span)>", re.IGNORECASE)
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3})(?=\S)(.+?)(?<=\S)\1")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)]*)\)")
_TABLE_LINE = re.compile(r"\t|^\s*\|.*\|\s*$")


def strip_inline_markup(text: str) -> str:
    """Emphasis and simple inline tags removed; link text kept, '#' placeholder links dropped."""
    text = _HTML_TAG.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = text.replace("\\_", "_")
    return text


# UTF-32 first: its little-endian mark begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(raw: bytes) -> str:
    """UTF-8, or UTF-16/32 announced by a byte-order mark; nothing is guessed: a legacy
    encoding silently corrupts names and figures, and UTF-16 read as UTF-8 is NUL-filled."""
    encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), "utf-8-sig")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        name = encoding.upper().removesuffix("-SIG")
        raise LoadError(
            f"not valid {name} text (invalid byte 0x{raw[exc.start]:02x} at offset {exc.start});"
            " re-save the file as UTF-8"
        ) from exc
    if "\x00" in text:
        raise LoadError(
            "text holds NUL characters (UTF-16 or UTF-32 without a byte-order mark?); "
            "re-save the file as UTF-8"
        )
    return text


_ARTICLE = re.compile(r"^[*_]{0,3}(Article|ARTICLE)\s+\d+[a-z]?\b")


def _is_article_heading(group: list[str]) -> bool:
    """'*Article 2*' + '*Union contribution*': the article headings of an EU legal act."""
    text = " ".join(x.strip() for x in group)
    return bool(_ARTICLE.match(text)) and len(text) < 150 and not text.rstrip("*_ ").endswith(".")


def _looks_like_plain_heading(line: str, next_line: str | None) -> bool:
    words = line.split()
    if not words or len(words) > 12 or len(line) > 90:
        return False
    if line[-1] in ".,;:" or line.startswith(("-", "*", "•", "(")):
        return False
    if not (line[0].isupper() or line[0].isdigit()):
        return False
    # A heading introduces something longer than itself.
    return next_line is not None and len(next_line) > len(line)


def parse_text(text: str, markdown: bool) -> list[Block]:
    text = repair_hyphenation(strip_invisible(text.replace("\r\n", "\n").replace("\r", "\n")))
    lines = text.split("\n")
    repeated = repeated_short_lines(lines, min_count=2, max_chars=40)
    seen_repeated: set[str] = set()
    has_markup = markdown or any(_MD_HEADING.match(x) or _WIKI_HEADING.match(x) for x in lines)
    plain_ids = _plain_footnote_ids(lines)

    def footnote_def(line: str) -> tuple[str, str] | None:
        if m := _FOOTNOTE_DEF.match(line):
            return m.group(1) or m.group(2), m.group(3)
        if (m := _PLAIN_FOOTNOTE_DEF.match(line)) and m.group(1) in plain_ids:
            return m.group(1), m.group(2)
        return None

    # Group into paragraphs (blank-line separated); in plain text every line is a paragraph.
    groups: list[list[str]] = []
    current: list[str] = []
    for raw in lines:
        line = raw.rstrip()
        stripped = normalise_spaces(line)
        if not stripped or is_page_debris(stripped):
            if current:
                groups.append(current)
                current = []
            continue
        if stripped in repeated:
            if stripped in seen_repeated:
                continue  # a running header repeated after a page break
            seen_repeated.add(stripped)
        is_heading = bool(_MD_HEADING.match(stripped) or _WIKI_HEADING.match(stripped))
        is_table = bool(_TABLE_LINE.search(line))
        if is_heading or footnote_def(stripped) or not has_markup:
            if current:
                groups.append(current)
                current = []
            groups.append([line if is_table else stripped])
            continue
        if current and is_table != bool(_TABLE_LINE.search(current[-1])):
            groups.append(current)
            current = []
        current.append(line if is_table else stripped)
    if current:
        groups.append(current)

    blocks: list[Block] = []
    flat = [" ".join(g) for g in groups]
    for i, group in enumerate(groups):
        first = normalise_spaces(group[0])
        if (m := _MD_HEADING.match(first)) or (m := _WIKI_HEADING.match(first)):
            blocks.append(_heading(m.group(2), len(m.group(1))))
        elif definition := footnote_def(first):
            fid, text = definition
            body = strip_inline_markup(" ".join([text, *group[1:]]))
            blocks.append(Block(kind="footnote", text=normalise_spaces(body), footnote_id=fid))
        elif any(_TABLE_LINE.search(x) for x in group) and len(group) >= 2:
            rows = [
                " | ".join(
                    normalise_spaces(strip_inline_markup(c)) for c in re.split(r"\t|\|", r)
                ).strip(" |")
                for r in group
            ]
            blocks.append(Block(kind="table", text="\n".join(r for r in rows if r)))
        elif _is_article_heading(group):
            blocks.append(_heading(" ".join(group), 6))
        elif not has_markup and _looks_like_plain_heading(
            first, flat[i + 1] if i + 1 < len(flat) else None
        ):
            blocks.append(_heading(first, 2))
        else:
            joined = "\n".join(group) if all(x.startswith("- ") for x in group) else " ".join(group)
            blocks.append(_paragraph(joined))
    return [b for b in blocks if b.text]


def _plain_footnote_ids(lines: list[str]) -> set[str]:
    """Footnote numbers cited in the text whose definition has no markup."""
    cited: set[str] = set()
    defined: set[str] = set()
    for line in lines:
        stripped = line.strip()
        if m := _FOOTNOTE_DEF.match(stripped):
            defined.add(m.group(1) or m.group(2))
            stripped = stripped[m.start(3) :]
        cited.update(m.group(1) or m.group(2) for m in _FOOTNOTE_REF.finditer(stripped))
    return cited - defined


def _heading(text: str, level: int) -> Block:
    clean = normalise_spaces(strip_inline_markup(_OTHER_SUP.sub("", text))).strip("*_ ")
    return Block(kind="heading", text=clean, level=level)


def _paragraph(text: str) -> Block:
    text = _FOOTNOTE_REF.sub(lambda m: footnote_mark(m.group(1) or m.group(2)), text)
    text = strip_inline_markup(_OTHER_SUP.sub("", text))
    lines = [normalise_spaces(x) for x in text.split("\n")]
    text = "\n".join(x for x in lines if x)
    text = re.sub(r"\s+([.,;:])", r"\1", text)
    return Block(kind="paragraph", text=text)


def load_text_file(path: Path) -> list[Block]:
    text = decode_text(path.read_bytes())
    blocks = parse_text(text, markdown=path.suffix.lower() in {".md", ".markdown"})
    if not any(b.kind in ("paragraph", "table") for b in blocks):
        raise LoadError("no text content")
    return blocks
