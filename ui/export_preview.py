"""A PNG of the first page of an exported inform draft, for the README's screenshot, made
offline: the .docx that ui/export.py writes is read back (python-docx), laid out as an A4
HTML page in the house styles and shot with headless Chromium. An approximation of Word's
rendering (same text, styles, links and flags), not a print.

    python -m ui.export_preview DRAFT.json OUT.png [--docx OUT.docx] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import html
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from docx import Document
from docx.oxml.ns import qn

from ui import docx_style as house
from ui import export

A4_PX = (794, 1123)  # 210 x 297 mm at 96 dpi
CSS = {
    house.TITLE: "font-size:20pt;font-weight:bold;color:#003399;margin:0 0 8pt",
    house.HEADING: "font-size:13pt;font-weight:bold;color:#003399;margin:14pt 0 4pt",
    house.BODY: "font-size:10.5pt;margin:0 0 6pt",
    house.KEY_MESSAGE: "font-size:10.5pt;margin:0 0 4pt 18pt;display:list-item",
    house.MARKING: "font-size:10.5pt;font-weight:bold;color:#b03a2e;margin:0 0 2pt",
    house.NOTE: "font-size:9pt;font-style:italic;color:#595959;margin:0 0 4pt",
    house.SOURCE: "font-size:9.5pt;margin:6pt 0 2pt",
    house.QUOTE: "font-size:9pt;font-style:italic;color:#595959;margin:0 0 2pt 8mm",
    house.SOURCE_LINK: "font-size:8.5pt;margin:0 0 4pt 8mm",
}
CHARACTER_CSS = {
    house.MARKER: "vertical-align:super;font-size:70%;color:#003399",
    house.LINK: "color:#003399;text-decoration:underline",
    house.FLAG: "font-weight:bold;color:#b03a2e;background:yellow",
}


def _runs_html(paragraph: Any, doc: Any) -> str:
    """The paragraph's runs and hyperlinks in order, character styles as CSS."""
    ids = {s.style_id: s.name for s in doc.styles}
    rels = doc.part.rels
    out = []

    def run_html(run: Any, href: str = "") -> str:
        text = html.escape("".join(t.text or "" for t in run.iter(qn("w:t"))))
        style = run.find(f"{qn('w:rPr')}/{qn('w:rStyle')}")
        name = ids.get(style.get(qn("w:val")), "") if style is not None else ""
        css = CHARACTER_CSS.get(name, "")
        bold = run.find(f"{qn('w:rPr')}/{qn('w:b')}") is not None
        css += ";font-weight:bold" if bold else ""
        piece = f'<span style="{css}">{text}</span>'
        return f'<a href="{html.escape(href)}">{piece}</a>' if href else piece

    for child in paragraph._p:
        if child.tag == qn("w:r"):
            out.append(run_html(child))
        elif child.tag == qn("w:hyperlink"):
            rel = child.get(qn("r:id"))
            href = rels[rel].target_ref if rel else "#" + str(child.get(qn("w:anchor")))
            out += [run_html(r, href) for r in child.iter(qn("w:r"))]
    return "".join(out)


def docx_html(data: bytes) -> str:
    """The .docx as one A4 HTML page (its header and body; what overflows is cut off)."""
    doc = Document(io.BytesIO(data))
    section = doc.sections[0]
    margin = f"{section.top_margin.mm:.0f}mm {section.right_margin.mm:.0f}mm"
    body = "".join(
        f'<p style="{CSS.get(p.style.name, "")}">{_runs_html(p, doc)}</p>' for p in doc.paragraphs
    )
    header = html.escape(section.header.paragraphs[0].text)
    return (
        "<!doctype html><meta charset='utf-8'><body style='margin:0;background:#fff'>"
        f"<div style='width:210mm;height:297mm;overflow:hidden;box-sizing:border-box;"
        f"padding:{margin};font-family:{house.FONT},sans-serif;color:#1a1a1a;position:relative'>"
        f"<div style='position:absolute;top:10mm;right:{section.right_margin.mm:.0f}mm;"
        f"font-size:8pt;color:#595959'>{header}</div>{body}</div></body>"
    )


def screenshot(page_html: str, out: Path, chromium: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(page_html, encoding="utf-8")
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   f"--window-size={A4_PX[0]},{A4_PX[1]}", f"--screenshot={out.resolve()}",
                   page.as_uri()]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("draft", type=Path, help="an inform draft's JSON (POST /v1/inform)")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--docx", type=Path, help="also keep the .docx here")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium's binary")
    args = parser.parse_args(argv)
    try:
        draft = json.loads(args.draft.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"Cannot read the draft {args.draft}: {exc}", file=sys.stderr)
        return 2
    data = export.to_docx(draft)
    if args.docx:
        args.docx.write_bytes(data)
    try:
        screenshot(docx_html(data), args.out, args.chromium)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"Chromium could not take the screenshot ({args.chromium}): {exc}", file=sys.stderr)
        return 1
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
