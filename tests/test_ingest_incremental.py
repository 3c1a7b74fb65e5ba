"""Incremental re-ingestion: unchanged documents skipped, changed ones replaced, removed ones
deleted, stable chunk ids, catalog edits applied without re-embedding."""

from __future__ import annotations

import json
from pathlib import Path

from ingest_helpers import index_state, make_settings, markdown_doc, write_catalog

from common.settings import Settings
from index.schema import IndexPaths
from ingest.pipeline import run_ingest


def small_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "returns.md").write_text(
        markdown_doc(
            "Return policy",
            {
                "1. Return decisions": [
                    "A return decision is issued to every illegally staying third-country "
                    "national. Voluntary departure is preferred over forced return.",
                ],
                "2. Readmission": [
                    "Readmission agreements oblige partner countries to take back nationals."
                ],
            },
        ),
        encoding="utf-8",
    )
    (folder / "asylum.md").write_text(
        markdown_doc(
            "Asylum procedures",
            {
                "1. Border procedure": [
                    "The border procedure lasts at most twelve weeks, appeals included."
                ],
                "2. Safe countries": ["A common EU list of safe countries of origin applies."],
            },
        ),
        encoding="utf-8",
    )
    (folder / "integration.md").write_text(
        markdown_doc(
            "Integration",
            {"1. Language courses": ["Language courses are offered from the first month."]},
        ),
        encoding="utf-8",
    )
    write_catalog(
        folder,
        [
            {"id": "returns", "title": "Return policy", "file": "returns.md", "date": "2026-01-10"},
            {"id": "asylum", "title": "Asylum procedures", "file": "asylum.md"},
            {"id": "integration", "title": "Integration", "file": "integration.md"},
        ],
    )
    return folder


def corpus_settings(tmp_path: Path, name: str = "index") -> Settings:
    return make_settings(tmp_path, name=name, corpus=small_corpus(tmp_path / "corpus"))


def ingest_corpus(settings: Settings):
    report = run_ingest(settings, progress=False)
    assert report.ok, report.render()
    return report


def test_second_run_with_nothing_changed_embeds_nothing(tmp_path: Path) -> None:
    settings = corpus_settings(tmp_path)
    first = ingest_corpus(settings)
    assert first.texts_embedded > 0
    manifest_before = IndexPaths(settings.index_dir).read_manifest()

    second = ingest_corpus(settings)
    assert second.texts_embedded == 0
    assert [r.status for r in second.results] == ["unchanged"] * 3
    assert second.chunks_added == second.chunks_removed == 0
    assert second.chunks_unchanged == first.chunks_added
    manifest_after = IndexPaths(settings.index_dir).read_manifest()
    assert manifest_after is not None and manifest_before is not None
    assert manifest_after.manifest_hash == manifest_before.manifest_hash


def test_changed_document_is_replaced(tmp_path: Path) -> None:
    settings = corpus_settings(tmp_path)
    ingest_corpus(settings)
    before = index_state(settings)
    old_ids = before.ids_of("asylum")

    path = settings.corpus_dir / "asylum.md"
    path.write_text(
        path.read_text("utf-8").replace("twelve weeks", "sixteen weeks"), encoding="utf-8"
    )
    report = ingest_corpus(settings)  # the catalog sha256 is now stale: a warning, not an error
    assert {r.doc_id: r.status for r in report.results} == {
        "returns": "unchanged",
        "asylum": "updated",
        "integration": "unchanged",
    }
    assert any("sha256 differs" in w for w in report.warnings)

    after = index_state(settings)
    after.assert_consistent()
    new_ids = after.ids_of("asylum")
    changed = [c for c in after.chunks_of("asylum") if "sixteen weeks" in c.text]
    assert len(changed) == 1
    assert changed[0].id not in old_ids  # the edited passage has a new id ...
    gone = old_ids - new_ids
    assert len(gone) == 1  # ... and its old version is gone from Chroma and the store
    assert not gone & set(after.chroma_ids) and not gone & after.store_ids
    assert old_ids - gone <= new_ids  # the untouched section kept its chunk
    assert not any("twelve weeks" in c.text for c in after.chunks)
    assert report.chunks_added == 1 and report.chunks_removed == 1
    assert after.ids_of("returns") == before.ids_of("returns")


def test_removed_document_is_deleted(tmp_path: Path) -> None:
    settings = corpus_settings(tmp_path)
    ingest_corpus(settings)
    before = index_state(settings)
    removed_ids = before.ids_of("integration")
    assert removed_ids

    (settings.corpus_dir / "integration.md").unlink()
    catalog_path = settings.corpus_dir / "catalog.json"
    catalog = json.loads(catalog_path.read_text("utf-8"))
    catalog["documents"] = [d for d in catalog["documents"] if d["id"] != "integration"]
    catalog_path.write_text(json.dumps(catalog), encoding="utf-8")

    report = ingest_corpus(settings)
    assert report.count("removed") == 1
    assert report.texts_embedded == 0
    after = index_state(settings)
    after.assert_consistent()
    assert "integration" not in after.records
    assert not removed_ids & set(after.chroma_ids)
    assert not removed_ids & after.store_ids
    assert set(after.chroma_ids) == set(before.chroma_ids) - removed_ids
    manifest = IndexPaths(settings.index_dir).read_manifest()
    assert manifest is not None and manifest.documents == 2
    assert manifest.chunks == len(after.store_ids)
    bm25_ids = json.loads((IndexPaths(settings.index_dir).bm25 / "ids.json").read_text())
    assert set(bm25_ids) == after.store_ids


def test_chunk_ids_are_stable_across_runs_and_indexes(tmp_path: Path) -> None:
    settings = corpus_settings(tmp_path)
    ingest_corpus(settings)
    first = index_state(settings)
    ingest_corpus(settings)
    again = index_state(settings)
    assert set(again.chroma_ids) == set(first.chroma_ids)
    assert {d: r.chunk_ids for d, r in again.records.items()} == {
        d: r.chunk_ids for d, r in first.records.items()
    }

    other = make_settings(tmp_path, name="other-index", corpus=settings.corpus_dir)
    ingest_corpus(other)
    assert set(index_state(other).chroma_ids) == set(first.chroma_ids)


def test_catalog_title_edit_updates_metadata_without_re_embedding(tmp_path: Path) -> None:
    settings = corpus_settings(tmp_path)
    ingest_corpus(settings)
    before = index_state(settings)

    catalog_path = settings.corpus_dir / "catalog.json"
    catalog = json.loads(catalog_path.read_text("utf-8"))
    for doc in catalog["documents"]:
        if doc["id"] == "returns":
            doc["title"] = "Return policy of the Union (revised title)"
    catalog_path.write_text(json.dumps(catalog), encoding="utf-8")

    report = ingest_corpus(settings)
    assert report.texts_embedded == 0
    assert {r.doc_id: r.status for r in report.results}["returns"] == "updated"
    assert report.chunks_added == report.chunks_removed == 0

    after = index_state(settings)
    after.assert_consistent()
    assert after.ids_of("returns") == before.ids_of("returns")  # same ids, same vectors
    for chunk in after.chunks_of("returns"):
        assert chunk.doc.title == "Return policy of the Union (revised title)"
        assert after.chroma_meta[chunk.id]["title"] == chunk.doc.title
    assert after.records["returns"].meta["title"] == "Return policy of the Union (revised title)"
    for chunk in after.chunks_of("asylum"):
        assert after.chroma_meta[chunk.id]["title"] == "Asylum procedures"
    manifest = IndexPaths(settings.index_dir).read_manifest()
    assert manifest is not None
    titles = {d.doc_id: d.title for d in manifest.document_list}
    assert titles["returns"] == "Return policy of the Union (revised title)"

    third = ingest_corpus(settings)  # and the edit is not re-applied on every run
    assert [r.status for r in third.results] == ["unchanged"] * 3


def test_extra_paths_are_pruned_unless_kept(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    extra = small_corpus(tmp_path / "extra")
    report = run_ingest(settings, extra=[extra], include_corpus=False, progress=False)
    assert report.ok and report.count("added") == 3
    kept = run_ingest(settings, extra=[], include_corpus=False, prune=False, progress=False)
    assert kept.count("removed") == 0
    assert len(index_state(settings).records) == 3
    pruned = run_ingest(settings, extra=[], include_corpus=False, progress=False)
    assert pruned.count("removed") == 3
    state = index_state(settings)
    assert not state.records and not state.chroma_ids and not state.store_ids


def test_an_extra_folder_with_its_own_catalog_keeps_its_metadata(tmp_path: Path) -> None:
    from ingest.sources import discover

    folder = tmp_path / "extra"
    folder.mkdir()
    doc = folder / "reg.md"
    doc.write_text("# Article 1\n\nSubject matter of a real regulation.\n", encoding="utf-8")
    import hashlib
    import json

    entry = {
        "id": "reg-2024-1356-screening",
        "title": "Screening Regulation",
        "reference": "Regulation (EU) 2024/1356",
        "kind": "regulation",
        "file": "reg.md",
        "sha256": hashlib.sha256(doc.read_bytes()).hexdigest(),
    }
    (folder / "catalog.json").write_text(json.dumps({"documents": [entry]}), encoding="utf-8")
    (folder / "loose.txt").write_text("An uncatalogued note on return policy.", encoding="utf-8")
    sources, warnings = discover(None, [folder])
    by_file = {s.path.name: s for s in sources}
    assert set(by_file) == {"reg.md", "loose.txt"}  # catalog.json itself is not a document
    assert by_file["reg.md"].doc_id == "reg-2024-1356-screening"
    assert by_file["reg.md"].entry is not None
    assert by_file["reg.md"].entry.reference == "Regulation (EU) 2024/1356"
    assert by_file["loose.txt"].entry is None
    assert warnings == []
