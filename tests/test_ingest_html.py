"""HTML pages: the main text only, headings as section paths, tables whole."""

from __future__ import annotations

from pathlib import Path

from ingest_helpers import index_state, ingest, make_settings

from common.embedding import embedder_from_settings
from ingest.loaders.html import parse_html

ROWS = [
    ("Albania", "Agreement", "2006"),
    ("Armenia", "Agreement", "2014"),
    ("Azerbaijan", "Agreement", "2014"),
    ("Belarus", "Agreement", "2020"),
    ("Bosnia and Herzegovina", "Agreement", "2008"),
    ("Cape Verde", "Agreement", "2014"),
    ("Georgia", "Agreement", "2011"),
    ("Hong Kong", "Agreement", "2004"),
    ("Macao", "Agreement", "2004"),
    ("Moldova", "Agreement", "2008"),
    ("Montenegro", "Agreement", "2008"),
    ("North Macedonia", "Agreement", "2008"),
    ("Pakistan", "Agreement", "2010"),
    ("Russia", "Agreement", "2007"),
    ("Serbia", "Agreement", "2008"),
    ("Sri Lanka", "Agreement", "2005"),
    ("Turkey", "Agreement", "2014"),
    ("Ukraine", "Agreement", "2008"),
    ("Afghanistan", "Arrangement (Joint Way Forward)", "2016"),
    ("Bangladesh", "Arrangement (Standard Operating Procedures)", "2017"),
    ("Ethiopia", "Arrangement (admission procedures)", "2018"),
    ("Gambia", "Arrangement (good practices)", "2018"),
    ("Guinea", "Arrangement (good practices)", "2017"),
    ("Ivory Coast", "Arrangement (good practices)", "2018"),
]


def legal_basis(year: str, i: int) -> str:
    return f"Council Decision {year}/{101 + i}/EU of the Council, OJ L {200 + i}"


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <title>Return policy in brief | Migration and Home Affairs</title>
  <script>var tracking = "SCRIPT-MARKER";</script>
  <style>.lead { font-weight: bold; } /* STYLE-MARKER */</style>
</head>
<body>
  <header class="site-header"><a href="/">Home</a> HEADER-MARKER European Commission</header>
  <nav aria-label="Main"><ul><li>NAV-MARKER Policies</li><li>Funding</li></ul></nav>
  <div class="page layout-with-sidebar">
    <aside class="sidebar">ASIDE-MARKER Related links</aside>
    <main>
      <article>
        <header><h1>Return policy in brief</h1></header>
        <!-- COMMENT-MARKER -->
        <p class="lead">The EU return policy aims at the <strong>effective return</strong> of
        people who have no right to stay in the Union.</p>
        <h2>1. Return decisions</h2>
        <p>A return decision is issued to every illegally staying third-country national.</p>
        <div>Text written directly in a division explains voluntary departure periods of up to
        30 days.</div>
        <h3>Voluntary departure</h3>
        <p>Voluntary departure is preferred over forced return.</p>
        <h2>2. Readmission</h2>
        <p>The EU has concluded readmission agreements and arrangements with these countries.</p>
        <table>
          <tr><th>Partner country</th><th>Instrument</th><th>Year</th><th>Legal basis</th></tr>
          ROWS
        </table>
        <p>Readmission agreements are negotiated by the Commission on behalf of the Union.</p>
      </article>
    </main>
  </div>
  <footer><p>FOOTER-MARKER Contact</p><p>Legal notice</p></footer>
  <script>console.log("SCRIPT-MARKER-2");</script>
</body>
</html>
""".replace(
    "ROWS",
    "\n".join(
        f"<tr><td>{a}</td><td>{b}</td><td>{c}</td><td>{legal_basis(c, i)}</td></tr>"
        for i, (a, b, c) in enumerate(ROWS)
    ),
)

MARKERS = ["SCRIPT", "STYLE", "HEADER", "NAV", "ASIDE", "FOOTER", "COMMENT"]
ARTICLE = "Return policy in brief"


def write_page(folder: Path) -> Path:
    path = folder / "return-policy.html"
    path.write_text(PAGE, encoding="utf-8")
    return path


def test_boilerplate_dropped_and_main_text_kept() -> None:
    title, blocks = parse_html(PAGE)
    text = "\n".join(b.text for b in blocks)
    for marker in MARKERS:
        assert f"{marker}-MARKER" not in text, marker
    assert "Legal notice" not in text
    assert title == "Return policy in brief | Migration and Home Affairs"
    assert blocks[0].kind == "heading" and blocks[0].text == ARTICLE  # the article's own header
    assert "effective return of people who have no right to stay in the Union." in text
    assert "voluntary departure periods of up to 30 days." in text  # text directly in a <div>


def test_ingested_page_has_section_paths_and_a_whole_table(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    report = ingest(settings, write_page(tmp_path))
    assert report.ok, report.render()
    state = index_state(settings)
    state.assert_consistent()
    by_section = {}
    for chunk in state.chunks:
        by_section.setdefault(chunk.section_path, []).append(chunk)
    assert set(by_section) == {
        ARTICLE,
        f"{ARTICLE} > 1. Return decisions",
        f"{ARTICLE} > 1. Return decisions > Voluntary departure",
        f"{ARTICLE} > 2. Readmission",
    }
    assert (
        "preferred over forced return"
        in by_section[f"{ARTICLE} > 1. Return decisions > Voluntary departure"][0].text
    )

    tables = [c for c in state.chunks if c.block == "table"]
    assert len(tables) == 1
    table = tables[0]
    assert table.section_path == f"{ARTICLE} > 2. Readmission"
    lines = table.text.split("\n")
    assert "Partner country | Instrument | Year | Legal basis" in lines
    for i, row in enumerate(ROWS):
        assert " | ".join([*row, legal_basis(row[2], i)]) in lines
    # Too big for one chunk, yet not split: no other chunk holds a row of it.
    assert embedder_from_settings(settings).count_tokens(table.text) > 254
    others = "\n".join(c.text for c in state.chunks if c.id != table.id)
    assert not any(row[0] in others for row in ROWS)

    everything = "\n".join(c.text for c in state.chunks)
    for marker in MARKERS:
        assert f"{marker}-MARKER" not in everything
    meta = state.chroma_meta[table.id]
    assert meta["block"] == "table" and meta["kind"] == "web page"
    assert meta["title"] == "Return policy in brief | Migration and Home Affairs"


def test_page_without_main_element_uses_the_body() -> None:
    html = (
        "<html><body><nav>Menu</nav><h1>Family reunification</h1>"
        "<p>Sponsors may apply for their spouse and minor children.</p>"
        "<ul><li>Spouse</li><li>Minor children</li></ul>"
        "<div class='cookie-banner'>We use cookies</div></body></html>"
    )
    _, blocks = parse_html(html)
    assert [(b.kind, b.text) for b in blocks] == [
        ("heading", "Family reunification"),
        ("paragraph", "Sponsors may apply for their spouse and minor children."),
        ("paragraph", "- Spouse"),
        ("paragraph", "- Minor children"),
    ]
