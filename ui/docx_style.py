"""The EMN house style of exported drafts, in one place: A4 pages and the named paragraph and
character styles (one font, EU blue accent) that ui/export.py writes with. Named styles let a
colleague restyle the whole brief in Word at once instead of fixing direct formatting."""

from __future__ import annotations

from dataclasses import dataclass

from docx.document import Document as DocxDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_COLOR_INDEX
from docx.section import Section
from docx.shared import Mm, Pt, RGBColor

FONT = "Arial"
EU_BLUE = RGBColor(0x00, 0x33, 0x99)  # the EU flag's Reflex Blue
TEXT = RGBColor(0x1A, 0x1A, 0x1A)
GREY = RGBColor(0x59, 0x59, 0x59)
ALERT = RGBColor(0xB0, 0x3A, 0x2E)

A4_WIDTH, A4_HEIGHT = Mm(210), Mm(297)
MARGIN_SIDE, MARGIN_TOP, MARGIN_BOTTOM = Mm(25), Mm(25), Mm(22)

# Style names, as Word shows them in its style gallery.
TITLE = "EMN Title"
HEADING = "EMN Heading"
BODY = "EMN Body"
KEY_MESSAGE = "EMN Key message"
MARKING = "EMN Marking"
NOTE = "EMN Draft note"
SOURCE = "EMN Source"
QUOTE = "EMN Quote"
SOURCE_LINK = "EMN Source link"
HEADER_FOOTER = "EMN Header and footer"
MARKER = "EMN Citation marker"
LINK = "EMN Link"
FLAG = "EMN Flag"


@dataclass(frozen=True)
class _Para:
    name: str
    base: str
    size: float
    color: RGBColor = TEXT
    bold: bool = False
    italic: bool = False
    before: float = 0
    after: float = 6
    indent_mm: float = 0


PARAGRAPHS = (
    _Para(TITLE, "Title", 20, EU_BLUE, bold=True, after=8),
    _Para(HEADING, "Heading 1", 13, EU_BLUE, bold=True, before=14, after=4),
    _Para(BODY, "Normal", 10.5, after=6),
    _Para(KEY_MESSAGE, "List Bullet", 10.5, after=4),
    _Para(MARKING, "Normal", 10.5, ALERT, bold=True, after=2),
    _Para(NOTE, "Normal", 9, GREY, italic=True, after=4),
    _Para(SOURCE, "Normal", 9.5, before=6, after=2),
    _Para(QUOTE, "Normal", 9, GREY, italic=True, after=2, indent_mm=8),
    _Para(SOURCE_LINK, "Normal", 8.5, after=4, indent_mm=8),
    _Para(HEADER_FOOTER, "Normal", 8, GREY, after=0),
)


def apply_house_styles(doc: DocxDocument) -> dict[str, str]:
    """Define the house styles on a new document (python-docx's default template), set
    every section to A4 with the house margins; the styles' ids by name (python-docx looks a
    style up by name in linear time, so the writer sets ids directly)."""
    styles = doc.styles
    ids: dict[str, str] = {}
    normal = styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(10.5)
    for spec in PARAGRAPHS:
        style = styles.add_style(spec.name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = styles[spec.base]
        style.quick_style = True
        font = style.font
        font.name, font.size, font.color.rgb = FONT, Pt(spec.size), spec.color
        font.bold, font.italic = spec.bold, spec.italic
        fmt = style.paragraph_format
        fmt.space_before, fmt.space_after = Pt(spec.before), Pt(spec.after)
        if spec.indent_mm:
            fmt.left_indent = Mm(spec.indent_mm)
        ids[spec.name] = style.style_id
    marker = styles.add_style(MARKER, WD_STYLE_TYPE.CHARACTER)
    marker.font.superscript = True
    marker.font.color.rgb = EU_BLUE
    link = styles.add_style(LINK, WD_STYLE_TYPE.CHARACTER)
    link.font.color.rgb = EU_BLUE
    link.font.underline = True
    flag = styles.add_style(FLAG, WD_STYLE_TYPE.CHARACTER)
    flag.font.bold = True
    flag.font.color.rgb = ALERT
    flag.font.highlight_color = WD_COLOR_INDEX.YELLOW
    ids.update({MARKER: marker.style_id, LINK: link.style_id, FLAG: flag.style_id})
    for section in doc.sections:
        a4(section)
    return ids


def a4(section: Section) -> None:
    section.page_width, section.page_height = A4_WIDTH, A4_HEIGHT
    section.left_margin = section.right_margin = MARGIN_SIDE
    section.top_margin, section.bottom_margin = MARGIN_TOP, MARGIN_BOTTOM
    section.header_distance = section.footer_distance = Mm(10)
