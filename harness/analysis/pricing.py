"""Prices for the capacity plan: what N replicas cost a month, from a user's price table."""

from __future__ import annotations

import csv
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BadInputError

HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class PriceTable:
    replica_hour: float = 0.0
    vcpu_hour: float = 0.0
    cores_per_replica: float | None = None
    fixed_monthly: float = 0.0
    currency: str = "USD"

    def monthly(self, replicas: int, cores_per_replica: float) -> float:
        cores = self.cores_per_replica if self.cores_per_replica is not None else cores_per_replica
        hourly = replicas * (self.replica_hour + cores * self.vcpu_hour)
        return HOURS_PER_MONTH * hourly + self.fixed_monthly


def load_price_table(path: Path) -> PriceTable:
    """Prices from TOML, JSON or CSV (``key,value`` rows): replica_hour, vcpu_hour, ..."""
    if not path.is_file():
        raise BadInputError(f"{path}: missing (price table)")
    try:
        text = path.read_text()
        data: dict[str, Any]
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix == ".csv":
            data = {
                row[0].strip(): row[1].strip()
                for row in csv.reader(text.splitlines())
                if len(row) >= 2 and row[0].strip() not in ("", "key")
            }
        else:
            raise BadInputError(f"{path}: price table must be .toml, .json or .csv")
    except (OSError, UnicodeDecodeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise BadInputError(f"{path}: unreadable price table ({exc})") from exc
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: price table must be a table of keys")
    known = {"replica_hour", "vcpu_hour", "cores_per_replica", "fixed_monthly", "currency"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadInputError(
            f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    try:
        table = PriceTable(
            replica_hour=float(data.get("replica_hour", 0.0)),
            vcpu_hour=float(data.get("vcpu_hour", 0.0)),
            cores_per_replica=(
                float(data["cores_per_replica"]) if "cores_per_replica" in data else None
            ),
            fixed_monthly=float(data.get("fixed_monthly", 0.0)),
            currency=str(data.get("currency", "USD")),
        )
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"{path}: prices must be numbers ({exc})") from exc
    if table.replica_hour <= 0 and table.vcpu_hour <= 0:
        raise BadInputError(f"{path}: set replica_hour or vcpu_hour (price per hour)")
    return table
