"""The default corpus: every file has a catalog entry whose sha256 is current."""

from __future__ import annotations

from common.settings import load_settings
from ingest.catalog import Catalog, file_sha256
from ingest.sources import CATALOG_FILE


def test_every_corpus_file_has_a_current_catalog_entry() -> None:
    corpus = load_settings().corpus_dir
    catalog = Catalog.load(corpus / CATALOG_FILE)
    entries = catalog.by_file()
    files = sorted(p.name for p in corpus.iterdir() if p.is_file() and p.name != CATALOG_FILE)
    assert files, "corpus/ is empty"
    missing = [f for f in files if f not in entries]
    assert not missing, f"files without a catalog entry: {missing}"
    stale = [f for f in files if entries[f].sha256 != file_sha256(corpus / f)]
    assert not stale, f"catalog sha256 is stale for: {stale}"
    dangling = [f for f in entries if not (corpus / f).exists()]
    assert not dangling, f"catalog entries without a file: {dangling}"


def test_catalog_ids_are_unique_and_metadata_complete() -> None:
    catalog = Catalog.load(load_settings().corpus_dir / CATALOG_FILE)
    ids = [e.id for e in catalog.documents]
    assert len(ids) == len(set(ids))
    for entry in catalog.documents:
        assert entry.title and entry.kind and entry.language and entry.licence and entry.source
