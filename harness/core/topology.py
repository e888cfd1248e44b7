"""The names of a stack's topology choices, defined once for the scenario schema, the stack and
the runner."""

from __future__ import annotations

from typing import Literal, get_args

Balancer = Literal["auto", "nginx", "shared-socket"]
Backend = Literal["local", "compose"]

BALANCERS: tuple[Balancer, ...] = get_args(Balancer)
BACKENDS: tuple[Backend, ...] = get_args(Backend)
