"""An ingestion killed with SIGKILL while it embeds: the next run completes the index, with no
duplicate and no orphan, and resumes from the vectors already computed."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from ingest_helpers import (
    child_env,
    cli_command,
    index_state,
    make_settings,
    sentence_corpus,
    stop_process,
)

from common.settings import PROJECT_ROOT
from index.schema import IndexPaths
from ingest.pipeline import run_ingest

EMBED_PROGRESS = re.compile(r"embed:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")


def kill_while_embedding(command: list[str], timeout: float = 120) -> tuple[int, int, str]:
    """Run `command`, SIGKILL it once its 'embed' progress bar shows some batches done but not
    all; return (texts done, texts to do, stderr so far)."""
    proc = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    chunks: list[bytes] = []

    def read() -> None:
        assert proc.stderr is not None
        while data := proc.stderr.read1(4096):
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = b"".join(chunks).decode("utf-8", "replace")
            progress = EMBED_PROGRESS.findall(text)
            if progress:
                done, total = map(int, progress[-1])
                if 64 <= done < total:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=30)
                    reader.join(timeout=5)
                    return done, total, text
                if done >= total:
                    pytest.fail("embedding finished before the test could interrupt it")
            if proc.poll() is not None:
                pytest.fail(f"ingest exited ({proc.returncode}) before embedding:\n{text}")
            time.sleep(0.05)
        pytest.fail("ingest never reached the embedding phase")
    finally:
        stop_process(proc)
    raise AssertionError("unreachable")


@pytest.mark.slow
def test_ingest_killed_while_embedding_is_completed_by_the_next_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    # 168 distinct sentences: with the chunks, about 200 texts for each model, enough for the
    # kill to land between two batches of 32 and few enough to embed again quickly.
    sentence_corpus(corpus, docs=2, sentences_per_doc=84)

    # The run that gets killed, in a child process, with its progress bars on stderr.
    settings = make_settings(tmp_path, name="index", corpus=corpus)
    done, total, stderr = kill_while_embedding(
        cli_command("--corpus", corpus, "--index", settings.index_dir)
    )
    assert total > 168  # every sentence and every chunk
    paths = IndexPaths(settings.index_dir)
    assert not paths.manifest.exists()  # it died before finishing
    assert "index:" not in stderr

    resumed = run_ingest(settings, progress=False)
    assert resumed.ok, resumed.render()
    assert resumed.count("added") == 2
    # The vectors committed before the kill were not computed again.
    assert 0 < resumed.texts_embedded <= total - done

    state = index_state(settings)
    state.assert_consistent()  # Chroma ids == store ids == records' ids, no duplicate
    assert len(state.chroma_ids) == len(state.store_ids) == sum(r.chunks for r in resumed.results)

    # Reference: a clean single run into a new index. It reuses the vector cache only (so it
    # embeds nothing: proof that the resumed run left every vector behind), nothing else.
    clean_settings = make_settings(tmp_path, name="clean-index", corpus=corpus)
    clean_paths = IndexPaths(clean_settings.index_dir)
    clean_paths.root.mkdir(parents=True)
    shutil.copyfile(paths.embedding_cache, clean_paths.embedding_cache)
    clean = run_ingest(clean_settings, progress=False)
    assert clean.ok and clean.texts_embedded == 0
    reference = index_state(clean_settings)

    assert set(state.chroma_ids) == set(reference.chroma_ids)
    assert state.sentences == reference.sentences
    assert set(state.records) == set(reference.records)
    manifest, clean_manifest = paths.read_manifest(), clean_paths.read_manifest()
    assert manifest is not None and clean_manifest is not None
    assert (manifest.documents, manifest.chunks, manifest.sentences) == (
        clean_manifest.documents,
        clean_manifest.chunks,
        clean_manifest.sentences,
    )
    assert manifest.corpus_hash == clean_manifest.corpus_hash

    again = run_ingest(settings, progress=False)
    assert again.texts_embedded == 0 and {r.status for r in again.results} == {"unchanged"}
