"""Chroma server mode: a real `chroma run` process; the same corpus gives the same index as in
embedded mode."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_helpers import (
    CHROMA_CLI,
    child_env,
    free_port,
    index_state,
    make_settings,
    markdown_doc,
    run_cli,
    stop_process,
    wait_for_heartbeat,
)

from index.chroma import chroma_client, get_collection
from index.schema import IndexPaths
from ingest.pipeline import run_ingest


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """`chroma run` on a free port with its data under tmp_path; always stopped afterwards."""
    port = free_port()
    log = (tmp_path / "chroma-server.log").open("w")
    proc = subprocess.Popen(
        [
            str(CHROMA_CLI),
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=child_env(),
    )
    try:
        wait_for_heartbeat(port, proc)
        yield port
    finally:
        stop_process(proc)
        log.close()


def write_corpus(folder: Path) -> Path:
    folder.mkdir()
    for i, topic in enumerate(["returns", "asylum", "integration"]):
        sections = {
            f"{n}. {topic.title()} part {n}": [
                f"Paragraph {n} on {topic}: Member State {k} reported {n * 100 + k} cases."
                for k in range(3)
            ]
            for n in range(1, 4)
        }
        (folder / f"{topic}-{i}.md").write_text(markdown_doc(topic.title(), sections), "utf-8")
    return folder


@pytest.mark.slow
def test_server_mode_indexes_the_same_chunks_as_embedded_mode(
    tmp_path: Path, chroma_server: int
) -> None:
    corpus = write_corpus(tmp_path / "corpus")

    embedded = make_settings(tmp_path, name="embedded-index", corpus=corpus)
    embedded_report = run_ingest(embedded, progress=False)
    assert embedded_report.ok
    embedded_state = index_state(embedded)

    server = make_settings(
        tmp_path,
        name="server-index",
        corpus=corpus,
        chroma_mode="server",
        chroma_host="127.0.0.1",
        chroma_port=chroma_server,
    )
    # Same vectors: the server index starts from the embedded one's vector cache (and only that).
    IndexPaths(server.index_dir).root.mkdir(parents=True)
    shutil.copyfile(
        IndexPaths(embedded.index_dir).embedding_cache, IndexPaths(server.index_dir).embedding_cache
    )
    report = run_ingest(server, progress=False)
    assert report.ok, report.render()
    assert report.texts_embedded == 0
    assert report.chunks_added == embedded_report.chunks_added > 0

    collection = get_collection(chroma_client(server), server.collection)
    assert collection.count() == len(embedded_state.chroma_ids)
    state = index_state(server)
    state.assert_consistent()
    assert set(state.chroma_ids) == set(embedded_state.chroma_ids)
    for cid in state.chroma_ids:
        assert state.chroma_meta[cid] == embedded_state.chroma_meta[cid]
    assert not (server.index_dir / "chroma").exists()  # vectors live in the server only
    manifest = IndexPaths(server.index_dir).read_manifest()
    assert manifest is not None and manifest.chroma_mode == "server"
    assert manifest.chunks == collection.count()

    # Incremental against the server too: nothing to do the second time.
    again = run_ingest(server, progress=False)
    assert again.texts_embedded == 0 and {r.status for r in again.results} == {"unchanged"}
    assert get_collection(chroma_client(server), server.collection).count() == manifest.chunks


def test_unreachable_server_is_a_clear_cli_error(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    port = free_port()  # nothing listens there
    result = run_cli(
        "--corpus",
        corpus,
        "--index",
        tmp_path / "index",
        "--quiet",
        env={"EMN_CHROMA_MODE": "server", "EMN_CHROMA_PORT": str(port)},
    )
    assert result.returncode == 2, result.stderr
    errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0], result.stderr
