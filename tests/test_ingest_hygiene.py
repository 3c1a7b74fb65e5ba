"""Ingestion stays inside the folders it is given and says what it skipped: symbolic links out
of a folder (to /etc, to a file or folder elsewhere) and link loops are reported, a loop given
on the command line fails the run, unreadable files and folders are named, UTF-16/32 text is
decoded by its byte-order mark (never indexed NUL-filled), and a file name cannot forge a
line of the report. Real files and real links under tmp_path."""

from __future__ import annotations

import codecs
import ctypes
import os
import subprocess
from pathlib import Path

import pytest
from ingest_helpers import child_env, cli_command, markdown_doc, write_catalog

from common.settings import PROJECT_ROOT
from ingest.blocks import LoadError
from ingest.loaders.html import load_html_file
from ingest.loaders.text import load_text_file
from ingest.sources import discover

TEXT = "Return policy\n\nA return decision is issued to every illegally staying person.\n"
SENTENCE = "Ein Drittstaatsangehöriger kehrt in sein Herkunftsland zurück."
REPORT_PREFIXES = (
    "documents:",
    "chunks:",
    "embedded",
    "index:",
    "multilingual model:",
    "metadata incomplete:",
    "warning:",
    "refused:",
    "error:",
)


def folder_with_links(tmp_path: Path) -> tuple[Path, Path]:
    """`in/` holds a real file and links: to a file and a folder outside it, to /etc, to a
    file inside it, and a loop. Returns (in, outside)."""
    inside = tmp_path / "in"
    outside = tmp_path / "outside"
    inside.mkdir()
    (outside / "deep").mkdir(parents=True)
    (inside / "real.md").write_text(TEXT, "utf-8")
    (outside / "secret.md").write_text("Not for the index.\n", "utf-8")
    (outside / "deep" / "other.md").write_text("Not for the index either.\n", "utf-8")
    (inside / "to-secret.md").symlink_to(outside / "secret.md")
    (inside / "to-outside-folder").symlink_to(outside)
    (inside / "to-etc").symlink_to("/etc")
    (inside / "alias.md").symlink_to(inside / "real.md")
    (inside / "loop.md").symlink_to(inside / "loop.md")
    return inside, outside


def test_links_out_of_the_folder_are_skipped_and_reported(tmp_path: Path) -> None:
    inside, _ = folder_with_links(tmp_path)
    sources, warnings = discover(None, [inside])
    paths = [s.path for s in sources]
    # Only the real file (its alias inside the folder is the same document).
    assert paths == [(inside / "real.md").resolve()], paths
    assert all(inside.resolve() in p.parents for p in paths)
    text = "\n".join(warnings)
    for link in ("to-secret.md", "to-outside-folder", "to-etc"):
        line = next((w for w in warnings if f"{inside / link}:" in w), "")
        assert "outside" in line and "skipped" in line, (link, text)
    assert f"{inside / 'loop.md'}: symbolic link loop; skipped" in warnings, text


def test_a_catalog_entry_cannot_point_out_of_its_folder(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (tmp_path / "planted.md").write_text(TEXT, "utf-8")
    (corpus / "link.md").symlink_to(tmp_path / "planted.md")
    write_catalog(
        corpus,
        [
            {"id": "escape", "title": "Escape", "file": "../planted.md"},
            {"id": "linked", "title": "Linked", "file": "link.md"},
        ],
    )
    sources, warnings = discover(corpus, [])
    assert sources == []
    assert sum("outside" in w for w in warnings) == 3, warnings  # 2 entries, 1 walked link


def test_cli_fails_on_an_explicit_link_loop_and_escapes_file_names(tmp_path: Path) -> None:
    """A loop given on the command line fails the run (exit 1) with its name; a file whose
    name holds a newline and 'error: ...' cannot add a line of its own to the report."""
    folder = tmp_path / "docs"
    folder.mkdir()
    loop = tmp_path / "loop.md"
    loop.symlink_to(tmp_path / "loop.md")
    forged = folder / "note\nerror: corpus-wiped.txt"
    forged.write_bytes(b"")  # fails ("empty file"): nothing to embed, the report names it
    (folder / "bell\x07\x1b[2J.md").write_text(TEXT, "utf-8")
    result = subprocess.run(
        cli_command("--no-corpus", "--index", tmp_path / "index", "--quiet", loop, folder),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env=child_env(),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"error: {loop}: symbolic link loop" in output, output
    lines = output.splitlines()
    assert all(line.startswith(REPORT_PREFIXES) for line in lines), lines
    assert not any(line.startswith("error: corpus-wiped") for line in lines), lines
    assert "note\\nerror: corpus-wiped.txt: empty file" in output, output
    assert "\x1b" not in output and "\x07" not in output
    assert "bell\\x07\\x1b[2J.md" in output, output


# --- unreadable files ---------------------------------------------------------------------


PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def _without_file_override() -> None:
    """In the child before exec: root loses the capabilities that let it read any file, so
    mode 000 applies to it as to anyone (chmod alone does not stop root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_unreadable_files_and_folders_are_reported_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "locked-folder").mkdir(parents=True)
    (folder / "locked-folder" / "inside.md").write_text(TEXT, "utf-8")
    (folder / "locked.md").write_text(TEXT, "utf-8")
    (folder / "locked.md").chmod(0o000)
    (folder / "locked-folder").chmod(0o000)
    try:
        result = subprocess.run(
            cli_command("--no-corpus", "--index", tmp_path / "index", "--quiet", folder),
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env=child_env(),
            preexec_fn=_without_file_override if os.geteuid() == 0 else None,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE here ({exc})")
    finally:
        (folder / "locked-folder").chmod(0o755)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # reported, not a crash of the whole run (2)
    assert f"error: {folder / 'locked.md'}: cannot be read (Permission denied)" in output, output
    assert f"warning: {folder / 'locked-folder'}: folder cannot be read" in output, output
    assert "Traceback" not in output


# --- encodings ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_text_is_decoded_by_its_byte_order_mark(
    tmp_path: Path, encoding: str
) -> None:
    bom = {
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
        "utf-32-le": codecs.BOM_UTF32_LE,
        "utf-32-be": codecs.BOM_UTF32_BE,
    }[encoding]
    text = markdown_doc("Rückkehr", {"1. Rückführung": [SENTENCE]})
    path = tmp_path / "note.md"
    path.write_bytes(bom + text.encode(encoding))
    blocks = load_text_file(path)
    joined = " ".join(b.text for b in blocks)
    assert SENTENCE in joined
    assert "\x00" not in joined
    page = tmp_path / "page.html"
    html = "<html><head><title>Rückkehr</title></head><body><main><h1>Rückkehr</h1>"
    html += (
        "<p>Ein Drittstaatsangehöriger kehrt in sein Herkunftsland zurück.</p></main></body></html>"
    )
    page.write_bytes(bom + html.encode(encoding))
    blocks = load_html_file(page)[1]
    assert SENTENCE in " ".join(b.text for b in blocks)


def test_utf16_without_a_byte_order_mark_is_refused_not_indexed_as_nuls(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(TEXT.encode("utf-16-le"))
    with pytest.raises(LoadError, match="NUL"):
        load_text_file(path)
