"""`python -m ui.launch` (what `make run` runs after ingesting): the API and the chat page
together, their addresses printed, both stopped on Ctrl-C (or SIGTERM). Either one that exits
unexpectedly is restarted (ui/supervisor.py: a back-off, at most EMN_LAUNCH_MAX_RESTARTS
within EMN_LAUNCH_RESTART_WINDOW_S); meanwhile the page stays up and says the API is
unavailable. Past the limit the launcher stops both and exits with status 1.

The API listens on EMN_API_HOST:EMN_API_PORT, the page on EMN_UI_HOST:EMN_UI_PORT; the page
talks to EMN_API_URL when it is set, otherwise to the API started here.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

from common.local_servers import wait_http_ok
from common.settings import Settings, load_settings
from ui.supervisor import GaveUp, RestartPolicy, Supervised, supervise

APP = Path(__file__).resolve().parent / "app.py"
START_TIMEOUT_S = 180.0


class Stop(Exception):
    """SIGTERM, handled like Ctrl-C."""


def _terminate(stop: signal.Signals, frame: FrameType | None) -> None:
    raise Stop


def local_address(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host`."""
    return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host


def page_command(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.address", host,
        "--server.port", str(port),
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip


def restart_policy(settings: Settings) -> RestartPolicy:
    return RestartPolicy(
        max_restarts=settings.launch_max_restarts,
        window_s=settings.launch_restart_window_s,
        backoff_s=settings.launch_restart_backoff_s,
    )


def main() -> int:
    settings = load_settings()
    api_base = f"http://{local_address(settings.api_host)}:{settings.api_port}"
    api_url = os.environ.get("EMN_API_URL") or api_base
    page_url = f"http://{local_address(settings.ui_host)}:{settings.ui_port}"
    env = {**os.environ, "EMN_API_URL": api_url}
    policy = restart_policy(settings)
    api = Supervised("The API", [sys.executable, "-m", "api"], env=env, policy=policy)
    page = Supervised(
        "The chat page", page_command(settings.ui_host, settings.ui_port), env=env, policy=policy
    )
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C even when started with SIGINT ignored (e.g. in the background by a shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        wait_http_ok(f"{api_base}/healthz", api.start(), START_TIMEOUT_S, "The API")
        wait_http_ok(f"{page_url}/_stcore/health", page.start(), START_TIMEOUT_S, "The chat page")
        print(
            "\nEMN policy assistant is running:\n"
            f"  API:       {api_base}  (docs {api_base}/docs)\n"
            f"  Chat page: {page_url}  (talking to {api_url})\n"
            "Press Ctrl-C to stop both.\n",
            flush=True,
        )
        supervise([api, page])
    except GaveUp as exc:
        print(f"{exc} Stopping the chat page and the API.", file=sys.stderr, flush=True)
        return 1
    except (KeyboardInterrupt, Stop):
        print("\nStopping the chat page and the API…", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"Could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        page.stop()
        api.stop()


if __name__ == "__main__":
    sys.exit(main())
