"""Analyst access without Spark: every Delta table of a lakehouse folder is a DuckDB
view of its name, at the table's current version."""

from __future__ import annotations

import pandas as pd
import pytest

from fanbase.analyst import connect, table_paths, tables

pytestmark = pytest.mark.unit


def test_every_delta_table_is_a_view_of_its_name(tmp_path):
    from deltalake import write_deltalake

    root = tmp_path / "tables"
    daily = pd.DataFrame(
        {"market": ["DE", "DE", "GB"], "posts": [3, 5, 7], "spike": [False, True, None]}
    )
    write_deltalake(str(root / "gold" / "social_daily"), daily, partition_by=["market"])
    write_deltalake(str(root / "silver" / "markets"), pd.DataFrame({"market": ["DE", "GB"]}))
    # A newer version replaces the rows: the view reads the current one.
    write_deltalake(
        str(root / "silver" / "markets"),
        pd.DataFrame({"market": ["DE", "GB", "IT"]}),
        mode="overwrite",
    )
    (root / "gold" / "not_a_table").mkdir()  # no _delta_log: ignored
    assert sorted(table_paths(root)) == ["gold.social_daily", "silver.markets"]
    con = connect(root)
    assert tables(con) == ["gold.social_daily", "silver.markets"]
    got = con.sql(
        "SELECT market, sum(posts) AS posts, count(spike) AS flagged FROM gold.social_daily "
        "GROUP BY market ORDER BY market"
    ).fetchall()
    assert got == [("DE", 8, 2), ("GB", 7, 0)]
    assert con.sql("SELECT count(*) FROM silver.markets").fetchall() == [(3,)]


def test_a_missing_lakehouse_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no lakehouse here"):
        connect(tmp_path / "nowhere")
