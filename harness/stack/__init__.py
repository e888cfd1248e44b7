"""The stack under test at 1..N replicas: ``LocalStack`` (embedded) or ``ComposeStack`` (Docker).

Contracts §4. ``capacity up|status|down`` (in :mod:`harness.stack.commands`) keep one stack running
in the background through :mod:`harness.stack.supervisor`.
"""

from harness.stack.backends import Stack, open_stack
from harness.stack.compose import ComposeStack
from harness.stack.config import ComponentStatus, StackConfig
from harness.stack.local import LocalStack
from harness.stack.resources import ResourceSampler

__all__ = [
    "ComponentStatus",
    "ComposeStack",
    "LocalStack",
    "ResourceSampler",
    "Stack",
    "StackConfig",
    "open_stack",
]
