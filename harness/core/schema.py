"""What every scenario model shares: durations written as text, and a strict, frozen base.

This module runs inside Locust (gevent): it imports neither locust nor pandas.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# --- durations -----------------------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """``"30s"``, ``"2m"``, ``"1h"``, ``"500ms"``, ``"1m30s"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a string like '30s' or a number of seconds")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError("a duration is a string like '30s' or a number of seconds")
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", value)
    if parts and re.fullmatch(r"(\s*\d+(?:\.\d+)?\s*(ms|s|m|h)\s*)+", value):
        return sum(float(num) * _UNIT_S[unit] for num, unit in parts)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration (use e.g. '30s', '2m', '1h')")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
