"""The interface both backends offer, and the factory that picks one from a config."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Protocol

from harness.stack.config import ComponentStatus, StackConfig
from harness.stack.resources import ResourceSampler


class Stack(Protocol):
    """A stack: ``with open_stack(config) as stack: stack.url`` (started on enter)."""

    config: StackConfig
    url: str
    mongodb_uri: str
    redis_url: str | None

    @property
    def balancer(self) -> str: ...

    def __enter__(self) -> Stack: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def up(self) -> Stack: ...
    def down(self) -> None: ...
    def components(self) -> list[ComponentStatus]: ...
    def pids(self) -> dict[str, int]: ...
    def kill(self, name: str) -> None: ...
    def start(self, name: str) -> None: ...
    def restart(self, name: str) -> None: ...
    def pause(self, name: str) -> None: ...
    def resume(self, name: str) -> None: ...

    def resource_sampler(self, csv_path: Path, interval: float = 1.0) -> ResourceSampler:
        """A sampler of every component (pids or containers), not yet started."""
        ...


def open_stack(config: StackConfig) -> Stack:
    """The backend ``config.backend`` names, not yet started: ``with`` starts and stops it."""
    if config.backend == "compose":
        from harness.stack.compose import ComposeStack

        return ComposeStack(config)
    from harness.stack.local import LocalStack

    return LocalStack(config)


def stack_images(stack: object) -> dict[str, str]:
    """``{component: "image@sha256:..."}`` of a compose stack, for the manifest; local: none."""
    from harness.stack.compose import ComposeStack

    return stack.images() if isinstance(stack, ComposeStack) else {}
