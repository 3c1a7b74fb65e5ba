"""A Chroma server (`chroma run`, from the chromadb package) on loopback: the service's server
mode in tests, and the vector store the API hosts share in `make bench-cluster`."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from common.local_servers import stop_process, wait_http_ok

CHROMA_CLI = Path(sys.executable).with_name("chroma")


@dataclass
class ChromaServer:
    """`chroma run --path PATH` on 127.0.0.1:`port`; `stop()` then `start()` again brings it
    back on the same port and data (an outage and its recovery)."""

    path: Path
    port: int
    log: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(CHROMA_CLI), "run", "--path", str(self.path), "--host", "127.0.0.1",
                 "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env=self.env,
            )  # fmt: skip
        wait_http_ok(
            f"http://127.0.0.1:{self.port}/api/v2/heartbeat", self.proc, timeout, "chroma run"
        )

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
