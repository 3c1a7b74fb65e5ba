"""Shared fixtures and helpers of the ingestion tests: real files, real indexes, real processes.

Every helper builds what a test needs under that test's own tmp_path, so no test depends on
another's state or order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common.local_servers import free_port, stop_process, wait_http_ok  # noqa: F401
from common.settings import PROJECT_ROOT, Settings
from index.chroma import chroma_client, get_collection
from index.chunk_store import ChunkStore, StoredDocument
from index.schema import Chunk, IndexPaths
from ingest.catalog import file_sha256
from ingest.pipeline import IngestReport, run_ingest

PYTHON = sys.executable
CHROMA_CLI = Path(sys.executable).with_name("chroma")


# --- settings and runs --------------------------------------------------------------------


def make_settings(
    tmp_path: Path, name: str = "index", corpus: Path | None = None, **kw
) -> Settings:
    """Settings of a fresh index under tmp_path; the corpus defaults to an empty folder."""
    if corpus is None:
        corpus = tmp_path / "no-corpus"
        corpus.mkdir(exist_ok=True)
    kw.setdefault("chroma_mode", "embedded")
    return Settings(index_dir=tmp_path / name, corpus_dir=corpus, **kw)


def ingest(settings: Settings, *paths: Path, include_corpus: bool = False, **kw) -> IngestReport:
    return run_ingest(
        settings, extra=list(paths), include_corpus=include_corpus, progress=False, **kw
    )


def cli_command(*args: str | Path) -> list[str]:
    return [PYTHON, "-m", "ingest", *map(str, args)]


def run_cli(
    *args: str | Path, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m ingest ...` in a child process, from the project folder."""
    return subprocess.run(
        cli_command(*args),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**child_env(), **(env or {})},
    )


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    # The child must use the paths on its command line, not ones from the environment.
    for key in ("EMN_INDEX_DIR", "EMN_CORPUS_DIR", "EMN_CHROMA_MODE", "EMN_MAX_FILE_MB"):
        env.pop(key, None)
    return env


# --- reading an index back ----------------------------------------------------------------


@dataclass
class IndexState:
    chroma_ids: list[str]
    chroma_meta: dict[str, dict]
    chroma_docs: dict[str, str]
    store_ids: set[str]
    records: dict[str, StoredDocument]
    chunks: list[Chunk] = field(default_factory=list)
    sentences: int = 0

    @property
    def record_ids(self) -> list[str]:
        return [cid for doc in self.records.values() for cid in doc.chunk_ids]

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        return [c for c in self.chunks if c.doc.doc_id == doc_id]

    def ids_of(self, doc_id: str) -> set[str]:
        return {c.id for c in self.chunks_of(doc_id)}

    def assert_consistent(self) -> None:
        """Chroma, the chunk store and the document records agree, with no duplicate."""
        assert len(self.chroma_ids) == len(set(self.chroma_ids))
        assert len(self.record_ids) == len(set(self.record_ids))
        assert set(self.chroma_ids) == self.store_ids == set(self.record_ids)


def index_state(settings: Settings) -> IndexState:
    if settings.chroma_mode == "embedded":
        # Another process may have written the index since this process opened it.
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    collection = get_collection(chroma_client(settings), settings.collection)
    got = collection.get(include=["metadatas", "documents"])
    store = ChunkStore(IndexPaths(settings.index_dir).chunk_store)
    try:
        return IndexState(
            chroma_ids=list(got["ids"]),
            chroma_meta=dict(zip(got["ids"], got["metadatas"], strict=True)),
            chroma_docs=dict(zip(got["ids"], got["documents"], strict=True)),
            store_ids=store.chunk_ids(),
            records=store.documents(),
            chunks=list(store.iter_chunks()),
            sentences=store.count()[1],
        )
    finally:
        store.close()


# --- corpus files -------------------------------------------------------------------------


def write_catalog(corpus: Path, entries: list[dict]) -> None:
    """catalog.json for `entries` (id, title, file, ...), each with the file's current sha256."""
    docs = []
    for entry in entries:
        doc = {"kind": "inform", "language": "en", "licence": "test", "source": "test", **entry}
        doc["sha256"] = file_sha256(corpus / doc["file"])
        docs.append(doc)
    (corpus / "catalog.json").write_text(json.dumps({"documents": docs}, indent=2), "utf-8")


def markdown_doc(title: str, sections: dict[str, list[str]]) -> str:
    parts = [f"# {title}", ""]
    for heading, paragraphs in sections.items():
        parts += [f"## {heading}", ""]
        for paragraph in paragraphs:
            parts += [paragraph, ""]
    return "\n".join(parts)


_TOPICS = [
    "asylum procedures",
    "return decisions",
    "readmission agreements",
    "labour migration",
    "family reunification",
    "integration courses",
    "border surveillance",
    "visa policy",
    "unaccompanied minors",
    "statelessness",
]
_ACTORS = ["Austria", "Belgium", "Croatia", "Estonia", "Finland", "Ireland", "Latvia", "Malta"]


def distinct_sentences(n: int, seed: int = 0) -> list[str]:
    """n different sentences (no two alike, so nothing is deduplicated or cached twice)."""
    out = []
    for i in range(n):
        k = i + seed * 100_000
        topic, actor = _TOPICS[k % len(_TOPICS)], _ACTORS[(k // 10) % len(_ACTORS)]
        out.append(
            f"In {2000 + k % 26}, {actor} reported {k * 7 + 13} cases concerning {topic} "
            f"to the national contact point under item {k}."
        )
    return out


def sentence_corpus(folder: Path, docs: int, sentences_per_doc: int) -> list[Path]:
    """Markdown documents of distinct sentences, a few paragraphs per section."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in range(docs):
        sentences = distinct_sentences(sentences_per_doc, seed=d + 1)
        sections: dict[str, list[str]] = {}
        for s in range(0, len(sentences), 12):
            group = sentences[s : s + 12]
            sections[f"{s // 12 + 1}. Part {s // 12 + 1}"] = [
                " ".join(group[:6]),
                " ".join(group[6:]),
            ]
        path = folder / f"report-{d + 1}.md"
        path.write_text(markdown_doc(f"Report {d + 1}", sections), "utf-8")
        paths.append(path)
    return paths


# --- PDFs written with fpdf2 --------------------------------------------------------------

RUNNING_HEADER = "EMN Inform | Return and readmission | June 2026"
RUNNING_FOOTER = "European Migration Network - EMN Inform series"


def build_report_pdf(path: Path) -> Path:
    """A three-page inform with the furniture of real reports.

    Page 1: "1. Introduction"; a word hyphenated at a line end ("migra-/tion"); a footnote
    reference set as a superscript with text rise (footnote 1, plain number, at the page
    bottom in a small font); a paragraph that runs onto page 2 and breaks "readmis-/sion"
    across the page break. Page 2: "2. Returns" and its sub-heading "Readmission" (smaller,
    bold), a footnote reference raised by position (footnote 2, itself numbered with a
    superscript). Page 3: a numbered heading wrapped over two lines. Every page: a running
    header and footer and "Page N of 3".
    """
    from fpdf import FPDF

    class Report(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "", 8)
            self.cell(0, 5, RUNNING_HEADER, align="C", new_x="LMARGIN", new_y="NEXT")
            self.ln(6)

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font("Helvetica", "", 8)
            self.cell(0, 4, RUNNING_FOOTER, align="C", new_x="LMARGIN", new_y="NEXT")
            self.cell(0, 4, f"Page {self.page_no()} of 3", align="C")

    pdf = Report(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(20, 12, 20)

    def heading(*lines: str, size: float = 16) -> None:
        pdf.set_font("Helvetica", "B", size)
        for text in lines:  # a long heading wraps onto a second line
            pdf.cell(0, size * 0.45, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    def line(text: str) -> None:
        pdf.set_font("Helvetica", "", 11)
        pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")

    def gap() -> None:
        pdf.ln(5)

    def body_width(text: str) -> float:
        return pdf.get_string_width(text)

    def line_with_rise_superscript(before: str, mark: str, after: str) -> None:
        pdf.set_font("Helvetica", "", 11)
        pdf.cell(body_width(before), 6, before)
        pdf.char_vpos = "SUP"  # fpdf2 sets it with a smaller font and text rise (Ts)
        pdf.cell(body_width(mark) * 0.7, 6, mark)
        pdf.char_vpos = "LINE"
        pdf.cell(0, 6, after, new_x="LMARGIN", new_y="NEXT")

    def line_with_raised_superscript(before: str, mark: str, after: str) -> None:
        pdf.set_font("Helvetica", "", 11)
        x, y = pdf.get_x(), pdf.get_y()
        pdf.cell(body_width(before), 6, before)
        pdf.set_font("Helvetica", "", 7)  # a smaller digit placed higher, as word processors do
        pdf.set_xy(x + body_width(before), y - 1.6)
        pdf.cell(pdf.get_string_width(mark), 6, mark)
        pdf.set_font("Helvetica", "", 11)
        pdf.set_xy(x + body_width(before) + 2, y)
        pdf.cell(0, 6, after, new_x="LMARGIN", new_y="NEXT")

    def footnote_plain(text: str) -> None:
        pdf.set_xy(20, -30)
        pdf.set_font("Helvetica", "", 8)
        pdf.cell(0, 4, text)

    def footnote_superscript_number(number: str, text: str) -> None:
        pdf.set_xy(20, -30)
        pdf.set_font("Helvetica", "", 8)
        pdf.char_vpos = "SUP"
        pdf.cell(pdf.get_string_width(number), 4, number)
        pdf.char_vpos = "LINE"
        pdf.cell(0, 4, text)

    # Page 1
    pdf.add_page()
    heading("1. Introduction")
    line("The European Migration Network publishes comparative studies on asylum.")
    line("Member States report their national policies on irregular migra-")
    line("tion to the network through their national contact points.")
    gap()
    line_with_rise_superscript(
        "Irregular border crossings into the Union fell sharply in 2025.",
        "1",
        " Member States expect",
    )
    line("the trend to continue in 2026.")
    gap()
    line("Return policy remains a priority for the Commission, which will present a")
    line("common European system for return with reinforced cooperation on readmis-")
    footnote_plain("1 Frontex data show that irregular border crossings declined by 26% in 2025.")
    # Page 2
    pdf.add_page()
    line("sion with countries of origin and transit.")
    gap()
    heading("2. Returns")
    line("Effective return depends on cooperation with third countries of origin.")
    line("The Commission monitors the return rate in all Member States every year.")
    gap()
    heading("Readmission", size=13)
    line("Readmission agreements oblige partner countries to take back their nationals.")
    line_with_raised_superscript("Twenty-four agreements and arrangements", "2", " are in force.")
    footnote_superscript_number(
        "2", "The EU has concluded 18 readmission agreements and 6 arrangements."
    )
    # Page 3
    pdf.add_page()
    heading("3. Cooperation with countries of origin and transit on", "return and reintegration")
    line("Reintegration support helps returnees to rebuild their lives after return.")
    line("The network compares reintegration programmes across the Member States.")
    pdf.output(str(path))
    return path


def build_text_pdf(path: Path, paragraphs: list[str], title: str = "Report") -> Path:
    """A plain one-page PDF of paragraphs (for tests that need any valid PDF)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for paragraph in paragraphs:
        pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.output(str(path))
    return path


# --- processes ----------------------------------------------------------------------------


def wait_for_heartbeat(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    wait_http_ok(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, timeout, "chroma run")
