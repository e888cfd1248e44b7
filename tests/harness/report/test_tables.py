from __future__ import annotations

import math

import pytest

from harness.analysis.pricing import PriceTable
from harness.report.tables import capacity_table, fmt
from tests.harness.report._records import analysis, one_count_fit, plan


@pytest.mark.parametrize(
    ("value", "digits", "suffix", "text"),
    [
        (None, 0, "", "—"),
        (math.nan, 1, "", "—"),
        (math.inf, 1, "", "—"),
        (True, 0, "", "yes"),
        (False, 0, "", "no"),
        (1234.5678, 2, " %", "1,234.57 %"),
        (7, 0, "", "7"),
        ("valid", 0, "", "valid"),
    ],
)
def test_fmt_writes_a_dash_for_what_is_unknown_and_groups_thousands(
    value: object, digits: int, suffix: str, text: str
) -> None:
    assert fmt(value, digits, suffix) == text


def test_the_capacity_table_says_why_the_usl_gives_no_replica_count() -> None:
    table = capacity_table(analysis(plan(one_count_fit()), plan(None)))

    usl_column = table.headers.index("replicas for 300 ok req/s (USL)")
    assert [row[usl_column] for row in table.rows] == ["unknown (1 replica count(s))", "—"]


def test_the_capacity_table_has_cost_columns_only_with_a_price_table() -> None:
    priced = analysis(
        plan(monthly_cost_cpu70=210.0), price=PriceTable(replica_hour=0.1, currency="EUR")
    )

    assert "monthly cost (USL)" not in capacity_table(analysis(plan())).headers
    (row,) = capacity_table(priced).rows
    assert row[-2:] == ["—", "210 EUR"]
