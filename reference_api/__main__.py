"""``python -m reference_api``: one uvicorn worker with the settings from the environment."""

from __future__ import annotations

import uvicorn

from reference_api.main import load_settings


def main() -> None:
    settings = load_settings()
    uvicorn.run(
        "reference_api.main:create_app",
        factory=True,
        host="0.0.0.0",  # noqa: S104 - a container's service listens on every interface
        port=settings.port,
        loop="uvloop",
        http="reference_api.wire:CoalescingHttpProtocol",
        timeout_keep_alive=75,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
