"""Data governance: the ingestion report names documents whose provenance is incomplete."""

from __future__ import annotations

import json
from pathlib import Path

from ingest.catalog import file_sha256
from ingest.pipeline import metadata_gaps
from ingest.sources import discover


def test_report_lists_missing_provenance_fields(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "full.md").write_text("# Title\n\nThe EMN publishes studies.\n", encoding="utf-8")
    (corpus / "partial.md").write_text("# Other\n\nThe EMN has NCPs.\n", encoding="utf-8")
    (corpus / "stray.txt").write_text("A file nobody catalogued.\n", encoding="utf-8")
    entries = [
        {
            "id": "full", "title": "Full", "reference": "C(2026) 1", "date": "2026-01-01",
            "source": "Commission", "url": "https://example.eu/full", "licence": "CC BY 4.0",
            "file": "full.md", "sha256": file_sha256(corpus / "full.md"),
        },
        {
            "id": "partial", "title": "Partial", "source": "Commission", "licence": "CC BY 4.0",
            "file": "partial.md", "sha256": file_sha256(corpus / "partial.md"),
        },
    ]  # fmt: skip
    (corpus / "catalog.json").write_text(json.dumps({"documents": entries}), encoding="utf-8")

    sources, _ = discover(corpus, [])
    gaps = metadata_gaps(sources)

    assert "full.md" not in gaps
    assert gaps["partial.md"] == ["reference", "date", "url"]
    assert gaps["stray.txt"] == ["catalog entry"]
