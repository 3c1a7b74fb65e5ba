"""What to ingest: the catalog's documents, the corpus folder, and any paths given."""

from __future__ import annotations

import errno
import hashlib
import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from common.hygiene import printable
from ingest.catalog import Catalog, CatalogEntry

CATALOG_FILE = "catalog.json"


class Source(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    doc_id: str
    entry: CatalogEntry | None = None
    error: str = Field(
        default="", description="Why it cannot be read at all (e.g. a symbolic link loop)."
    )


class CatalogError(ValueError):
    """The catalog file is unreadable or invalid."""


def slug(text: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (value or "document")[:60].strip("-")


def load_catalog(corpus_dir: Path) -> Catalog | None:
    path = corpus_dir / CATALOG_FILE
    if not path.exists():
        return None
    try:
        return Catalog.load(path)
    except Exception as exc:
        raise CatalogError(f"{path}: invalid catalog ({exc})") from exc


def shown(path: Path | str) -> str:
    """A file name as the report prints it: newlines and control characters escaped, so a
    name cannot forge a line of the report (e.g. a fake `error:` line)."""
    return printable(str(path))


def _inside(path: Path, root: Path) -> bool:
    """Whether resolved `path` lies in resolved folder `root`."""
    return path == root or root in path.parents


def link_problem(path: Path) -> str:
    """Why a symbolic link cannot be followed (a loop, a missing target), or ''."""
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 reports a loop this way
        return "symbolic link loop"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        return f"broken symbolic link ({exc.strerror or exc})"
    return ""


def _walk(path: Path, warnings: list[str]) -> list[Path]:
    """The files of a folder (or the file itself), never leaving the folder: a symbolic link
    whose target lies outside it, a link loop or a broken link is skipped with a warning, and
    so is a sub-folder that cannot be listed. Hidden files and folders are skipped."""
    if not path.is_dir():
        return [path]
    root = path.resolve()
    found: list[Path] = []

    def visit(directory: Path) -> None:
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            warnings.append(
                f"{shown(directory)}: folder cannot be read ({exc.strerror or exc}); skipped"
            )
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            child = Path(entry.path)
            if entry.is_symlink():
                problem = link_problem(child)
                if problem:
                    warnings.append(f"{shown(child)}: {problem}; skipped")
                    continue
                target = child.resolve()
                if not _inside(target, root):
                    warnings.append(
                        f"{shown(child)}: symbolic link to {shown(target)}, outside "
                        f"{shown(path)}; skipped"
                    )
                elif target.is_file() and entry.name != CATALOG_FILE:
                    found.append(child)  # a link to a folder inside: walked where it lies
            elif entry.is_dir(follow_symlinks=False):
                visit(child)
            elif entry.is_file(follow_symlinks=False) and entry.name != CATALOG_FILE:
                found.append(child)

    visit(path)
    return sorted(found)


def discover(corpus_dir: Path | None, extra: list[Path]) -> tuple[list[Source], list[str]]:
    """Sources in a stable order, plus warnings (missing files, paths that do not exist,
    links that leave their folder). A path given explicitly that cannot be followed (a link
    loop) is a source with an `error`, so the run reports it as failed."""
    warnings: list[str] = []
    sources: list[Source] = []
    seen_paths: set[Path] = set()
    used_ids: set[str] = set()

    def unique_id(doc_id: str, key: str) -> str:
        if doc_id in used_ids:
            doc_id = f"{doc_id}-{hashlib.sha1(key.encode()).hexdigest()[:6]}"
        used_ids.add(doc_id)
        return doc_id

    def add(path: Path, entry: CatalogEntry | None) -> None:
        resolved = path.resolve()
        if resolved in seen_paths:
            return
        seen_paths.add(resolved)
        doc_id = unique_id(entry.id if entry else slug(path.stem), str(resolved))
        sources.append(Source(path=resolved, doc_id=doc_id, entry=entry))

    def add_catalogued(folder: Path) -> None:
        catalog = load_catalog(folder)
        entries = catalog.by_file() if catalog else {}
        root = folder.resolve()
        for file, entry in entries.items():
            target = folder / file
            if target.is_symlink() and (problem := link_problem(target)):
                warnings.append(f"{shown(target)}: listed in {CATALOG_FILE}, {problem}; skipped")
            elif not _inside(target.resolve(), root):
                warnings.append(
                    f"{shown(target)}: listed in {CATALOG_FILE} but outside {shown(folder)}; "
                    "skipped"
                )
            elif target.is_file():
                add(target, entry)
            else:
                warnings.append(f"{shown(target)}: listed in {CATALOG_FILE} but missing; skipped")

    if corpus_dir is not None and corpus_dir.exists():
        add_catalogued(corpus_dir)
        for path in _walk(corpus_dir, warnings):
            add(path, None)
    for raw in extra:
        path = raw.expanduser()
        if path.is_symlink() and (problem := link_problem(path)):
            absolute = path.absolute()
            doc_id = unique_id(slug(path.stem), str(absolute))
            sources.append(Source(path=absolute, doc_id=doc_id, error=problem))
            continue
        if not path.exists():
            warnings.append(f"{shown(path)}: no such file or folder")
            continue
        if path.is_dir():
            # A folder with its own catalog (e.g. a development corpus) keeps its metadata.
            add_catalogued(path)
        for file in _walk(path, warnings):
            add(file, None)
    return sources, warnings
