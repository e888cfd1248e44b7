"""Every error the harness reports to a person, in one place.

The CLI turns a :class:`HarnessError` into one line on stderr and ``exit_code`` (2 = bad input or
a component that will not start). Nothing else decides exit codes.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or an environment problem; ``str(exc)`` is one line naming what is wrong."""

    exit_code = 2


class BadInputError(HarnessError):
    """A file, field or argument the user gave is wrong (missing, corrupt, inconsistent)."""


class ComponentError(HarnessError):
    """A component could not be found, started or health-checked.

    ``str(exc)`` names the component, what went wrong and the last lines of its log.
    """

    def __init__(self, component: str, message: str, log_tail: str = "") -> None:
        self.component = component
        self.log_tail = log_tail
        line = f"{component}: {message}"
        if log_tail.strip():
            line += f" (log tail: {' | '.join(log_tail.strip().splitlines()[-3:])})"
        super().__init__(line)
