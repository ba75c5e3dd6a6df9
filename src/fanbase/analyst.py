"""Read the lakehouse without Spark: every Delta table as a DuckDB view of its name.

    from fanbase.analyst import connect
    con = connect()                       # the configured lakehouse (FANBASE_HOME)
    con.sql("SELECT * FROM gold.social_daily WHERE spike").show()

The tables are found on disk (``<root>/<layer>/<table>/_delta_log``), read by the
``deltalake`` package at their current version and exposed as ``<layer>.<table>``, the
same names Spark sessions use. Needs the ``analyst`` extra (``pip install
fanbase[analyst]``: duckdb and deltalake); path-mode lakehouses only (a catalog-mode
lakehouse on EMR or Databricks is read through its catalog).
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def table_paths(root: str | Path) -> dict[str, Path]:
    """``layer.table`` -> folder, for every Delta table two levels under ``root``."""
    root = Path(root)
    found = {}
    for log in sorted(root.glob("*/*/_delta_log")):
        table = log.parent
        layer = table.parent
        if _NAME.match(layer.name) and _NAME.match(table.name):
            found[f"{layer.name}.{table.name}"] = table
    return found


def default_root() -> Path:
    from fanbase.config import load_settings

    lakehouse = load_settings().lakehouse
    if lakehouse.mode != "path" or "://" in lakehouse.root:
        raise ValueError(
            f"the configured lakehouse ({lakehouse.mode} mode, {lakehouse.root}) is not a "
            "local folder: pass connect(root=...) a folder of Delta tables"
        )
    return Path(lakehouse.root)


def connect(root: str | Path | None = None, con=None):
    """A DuckDB connection (``con`` or a new in-memory one) with a view per table."""
    import duckdb
    from deltalake import DeltaTable

    root = Path(root) if root is not None else default_root()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no lakehouse here (run `fanbase run` first)")
    con = con or duckdb.connect()
    for name, path in table_paths(root).items():
        layer, table = name.split(".")
        dataset = DeltaTable(str(path)).to_pyarrow_dataset()
        source = f"_delta_{layer}_{table}"
        con.register(source, dataset)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        con.execute(f"CREATE OR REPLACE VIEW {layer}.{table} AS SELECT * FROM {source}")
    return con


def tables(con) -> list[str]:
    """The ``layer.table`` views of a connection from ``connect``."""
    rows = con.execute(
        "SELECT schema_name || '.' || view_name FROM duckdb_views() "
        "WHERE NOT internal AND schema_name <> 'main' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]
