"""`python -m api`: serve the API with uvicorn on EMN_API_HOST:EMN_API_PORT."""

from __future__ import annotations

import uvicorn

from common.settings import load_settings


def main() -> None:
    settings = load_settings()
    url = f"http://{settings.api_host}:{settings.api_port}"
    print(f"EMN policy assistant API: {url}  (docs {url}/docs, auth mode {settings.auth_mode})")
    uvicorn.run("api.main:app", host=settings.api_host, port=settings.api_port)


if __name__ == "__main__":
    main()
