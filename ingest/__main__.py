"""`python -m ingest [PATH ...]`: build or update the index from corpus/ and the given paths."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.settings import load_settings
from ingest.pipeline import IngestBusyError, run_ingest
from ingest.sources import CatalogError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="Ingest documents (PDF, HTML, Markdown, text) into the EMN assistant's "
        "index: the catalogued corpus folder plus any files or folders given. Incremental: "
        "unchanged documents are skipped, changed ones replaced, removed ones deleted.",
        epilog="Settings come from EMN_* environment variables (see README). Exit status: 0 on "
        "success, 1 when a document failed or was refused (the others are still indexed; "
        "a symbolic link loop given as a path fails; EMN_REQUIRE_CATALOG=true refuses files "
        "without a catalog entry), 2 on a usage or configuration error.",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="extra files or folders to ingest")
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: EMN_CORPUS_DIR)")
    parser.add_argument("--no-corpus", action="store_true", help="ingest only the given paths")
    parser.add_argument("--index", type=Path, help="index folder (default: EMN_INDEX_DIR)")
    parser.add_argument(
        "--keep-missing",
        action="store_true",
        help="keep indexed documents that are not in this run's input (default: remove them)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict[str, object] = {}
    if args.corpus:
        overrides["corpus_dir"] = args.corpus
    if args.index:
        overrides["index_dir"] = args.index
    try:
        settings = load_settings(**overrides)
        report = run_ingest(
            settings,
            extra=args.paths,
            include_corpus=not args.no_corpus,
            prune=not args.keep_missing,
            progress=not args.quiet and not args.json,
        )
    except (IngestBusyError, CatalogError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. Chroma server unreachable
        print(f"error: ingestion stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.model_dump(mode="json") | {"ok": report.ok}, indent=2))
    else:
        print(report.render(), file=sys.stderr if not report.ok else sys.stdout)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
