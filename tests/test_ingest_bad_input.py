"""Bad input, one kind per test, through the CLI: a one-line error naming the file and the
reason, the other documents of the run still ingest, exit status 1, and nothing indexed before
is lost."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from ingest_helpers import (
    IndexState,
    build_text_pdf,
    index_state,
    make_settings,
    markdown_doc,
    run_cli,
)

from common.settings import Settings
from ingest.blocks import LoadError
from ingest.loaders.pdf import load_pdf_file
from ingest.pipeline import run_ingest

NEW_STUDY = markdown_doc(
    "Study on labour migration",
    {"1. Findings": ["Member States report shortages in health care and construction."]},
)


@dataclass
class Corpus:
    settings: Settings
    folder: Path
    before: IndexState

    def path(self, name: str) -> Path:
        return self.folder / name


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    """A small corpus, indexed; `new-study.md` was indexed once and then removed, so adding it
    back in the bad run ingests it from the embedding cache (the child process need not load
    the network: each of these tests costs about two seconds instead of six)."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "returns.md").write_text(
        markdown_doc(
            "Return policy",
            {
                "1. Return decisions": [
                    "A return decision is issued to every illegally staying third-country "
                    "national. Voluntary departure is preferred."
                ],
                "2. Readmission": [
                    "Readmission agreements oblige partners to take back nationals."
                ],
            },
        ),
        encoding="utf-8",
    )
    (folder / "asylum.txt").write_text(
        "Asylum procedures\n\nThe Asylum Procedures Regulation applies from June 2026 in every "
        "Member State of the Union.\n",
        encoding="utf-8",
    )
    build_text_pdf(
        folder / "inform.pdf",
        ["The EMN inform summarises national practices on statelessness determination."],
        title="EMN inform on statelessness",
    )
    settings = make_settings(tmp_path, corpus=folder)
    study = folder / "new-study.md"
    study.write_text(NEW_STUDY, encoding="utf-8")
    assert run_ingest(settings, progress=False).ok
    study.unlink()
    report = run_ingest(settings, progress=False)
    assert report.ok and report.count("removed") == 1
    before = index_state(settings)
    assert set(before.records) == {"returns", "asylum", "inform"}
    return Corpus(settings, folder, before)


def run_bad(corpus: Corpus) -> subprocess.CompletedProcess[str]:
    corpus.path("new-study.md").write_text(NEW_STUDY, encoding="utf-8")
    return run_cli("--corpus", corpus.folder, "--index", corpus.settings.index_dir, "--quiet")


def check(
    result: subprocess.CompletedProcess[str],
    corpus: Corpus,
    bad: Path,
    reason: tuple[str, ...],
    replaced: str | None,
) -> None:
    output = (result.stdout + result.stderr).splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in output if line.startswith("error:")]
    assert len(errors) == 1, errors  # one line, for the one bad file
    assert errors[0].startswith(f"error: {bad}: "), errors[0]
    assert all(word in errors[0].lower() for word in reason), errors[0]
    assert "Traceback" not in result.stderr

    after = index_state(corpus.settings)
    after.assert_consistent()
    # The other document of the run still ingested.
    assert "new-study" in after.records
    assert any("health care and construction" in c.text for c in after.chunks_of("new-study"))
    # Nothing indexed before is lost, the bad file's previous version included.
    for doc_id, record in corpus.before.records.items():
        assert doc_id in after.records
        assert after.records[doc_id].chunk_ids == record.chunk_ids
        assert after.records[doc_id].sha256 == record.sha256
    assert corpus.before.store_ids <= after.store_ids
    assert set(corpus.before.chroma_ids) <= set(after.chroma_ids)
    if replaced is not None:
        assert after.ids_of(replaced) == corpus.before.ids_of(replaced) != set()


def test_corrupted_pdf(corpus: Corpus) -> None:
    pdf = corpus.path("inform.pdf")
    data = pdf.read_bytes()
    pdf.write_bytes(data[: len(data) // 3])  # truncated in transfer
    result = run_bad(corpus)
    check(result, corpus, pdf, ("corrupted",), replaced="inform")
    assert "EOF marker" not in result.stderr  # pypdf's own anonymous log lines are not shown


def test_encrypted_pdf(corpus: Corpus) -> None:
    import cryptography  # noqa: F401 - fpdf2 and pypdf need it for AES (pypdf[crypto])
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod

    pdf = corpus.path("inform.pdf")
    doc = FPDF()
    doc.add_page()
    doc.set_font("Helvetica", size=11)
    doc.multi_cell(0, 6, "Restricted: national practices on statelessness determination.")
    doc.set_encryption(
        owner_password="owner-secret",
        user_password="user-secret",
        encryption_method=EncryptionMethod.AES_256,
    )
    doc.output(str(pdf))
    check(run_bad(corpus), corpus, pdf, ("encrypted", "password"), replaced="inform")


def test_empty_file(corpus: Corpus) -> None:
    md = corpus.path("returns.md")
    md.write_bytes(b"")
    check(run_bad(corpus), corpus, md, ("empty",), replaced="returns")


def test_scanned_pdf_without_text_layer(corpus: Corpus) -> None:
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    scan = Image.new("L", (620, 877), color=235)  # a grey page with text as pixels only
    draw = ImageDraw.Draw(scan)
    for row in range(40):
        draw.text((40, 30 + row * 20), f"Scanned line {row} about statelessness", fill=20)
    pdf = corpus.path("inform.pdf")
    doc = FPDF()
    doc.add_page()
    doc.image(scan, x=0, y=0, w=210)
    doc.set_draw_color(0)
    doc.line(10, 280, 200, 280)
    doc.output(str(pdf))
    check(run_bad(corpus), corpus, pdf, ("no text layer", "ocr"), replaced="inform")


def test_unsupported_extension(corpus: Corpus) -> None:
    docx = corpus.path("briefing.docx")
    docx.write_bytes(b"PK\x03\x04" + b"\x00" * 200)  # a Word file is a zip archive
    check(run_bad(corpus), corpus, docx, ("unsupported file type .docx",), replaced=None)


def test_non_utf8_text(corpus: Corpus) -> None:
    txt = corpus.path("asylum.txt")
    txt.write_bytes(
        "Asylum procedures\n\nThe Régulation on asylum – “fair and firm” – applies.\n".encode(
            "cp1252"
        )
    )
    check(run_bad(corpus), corpus, txt, ("utf-8",), replaced="asylum")


def test_fifty_megabyte_file(corpus: Corpus) -> None:
    md = corpus.path("returns.md")
    with md.open("r+b") as handle:  # the same text, then a sparse 50 MB tail: written at once
        handle.truncate(50 * 1024 * 1024)
    check(run_bad(corpus), corpus, md, ("too large", "50.0 mb"), replaced="returns")


def test_owner_password_only_pdf_is_read(tmp_path: Path) -> None:
    """Encrypted with an empty user password (printing restrictions only): readable."""
    import cryptography  # noqa: F401
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod

    for method in (EncryptionMethod.AES_128, EncryptionMethod.RC4):
        doc = FPDF()
        doc.add_page()
        doc.set_font("Helvetica", size=11)
        doc.multi_cell(0, 6, "Public guidance on family reunification procedures.")
        doc.set_encryption(owner_password="owner-only", user_password="", encryption_method=method)
        path = tmp_path / f"guidance-{method.name}.pdf"
        doc.output(str(path))
        blocks = load_pdf_file(path)
        assert any("family reunification" in b.text for b in blocks)


def test_rc4_pdf_with_user_password_is_refused(tmp_path: Path) -> None:
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("Helvetica", size=11)
    doc.multi_cell(0, 6, "Restricted text.")
    doc.set_encryption(owner_password="o", user_password="u")  # fpdf2's default: RC4
    path = tmp_path / "restricted.pdf"
    doc.output(str(path))
    with pytest.raises(LoadError, match="password is required"):
        load_pdf_file(path)
