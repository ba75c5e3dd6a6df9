"""The feature build a user would otherwise run on one machine: DuckDB over the same
silver Delta tables (read with deltalake, no Spark), writing the result with deltalake.

It does the work the Spark build does: the subscriber spine with the same rules, every
window aggregate the enabled groups declare (SQL generated from the same declarations,
so neither side gets a lighter workload), the in-season lookup, and one table per
group with the group's aggregates (the features are ratios of these; that last step
is arithmetic). Used by bench_features.py, which checks its totals against Spark's.
"""

from __future__ import annotations

import duckdb
from deltalake import DeltaTable, write_deltalake

from fanbase.features.spec import Aggregate, FeatureGroup

SOURCE_SQL = {
    "playback": "SELECT user_id, event_date AS day, device, mode, watch_seconds, "
    "buffering_seconds, fixture_id, sport, competition, tier FROM playback_sessions",
    "payments": "SELECT user_id, event_date AS day, status, amount FROM events "
    "WHERE event_type = 'payment'",
}


def _value(a: Aggregate) -> str:
    return f"COALESCE(CAST(({a.value}) AS BIGINT), 0)"


def build(
    tables_root: str, groups: list[FeatureGroup], aggregates: list[Aggregate], first, last, out
) -> dict[str, int]:
    """Compute and write one Delta table of aggregates and spine columns per group."""
    con = duckdb.connect()
    con.execute("SET threads = 2")
    for name in ("playback_sessions", "events", "subscriptions", "fixtures"):
        dataset = DeltaTable(f"{tables_root}/silver/{name}").to_pyarrow_dataset()
        con.register(name, dataset)
    lookback = max(a.window_days for a in aggregates)
    con.execute(
        f"""
        CREATE TEMP TABLE spine AS
        WITH s AS (
          SELECT *, COALESCE(started_at, first_seen_at) AS spell_started_at,
                 LAG(ended_at) OVER (PARTITION BY user_id ORDER BY
                     COALESCE(started_at, first_seen_at), subscription_id)
                   AS previous_spell_ended_at
          FROM subscriptions),
        days AS (
          SELECT s.*, CAST(UNNEST(generate_series(
              GREATEST(CAST(spell_started_at AS DATE) + 1, DATE '{first}'),
              LEAST(DATE '{last}', COALESCE(CAST(ended_at - INTERVAL 1 MICROSECOND AS DATE),
                                            DATE '{last}')),
              INTERVAL 1 DAY)) AS DATE) AS as_of_date
          FROM s)
        SELECT user_id, as_of_date, subscription_id, market, spell_number, plan, price,
               currency, acquisition_channel, promo_code, spell_started_at, left_truncated,
               COALESCE(cancelled_at < CAST(as_of_date AS TIMESTAMP), FALSE) AS cancel_pending,
               previous_spell_ended_at
        FROM days
        WHERE spell_started_at < CAST(as_of_date AS TIMESTAMP)
          AND (ended_at IS NULL OR ended_at > CAST(as_of_date AS TIMESTAMP))
        QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id, as_of_date
                                   ORDER BY spell_started_at DESC, subscription_id DESC) = 1
        """
    )
    joins = []
    for source, sql in SOURCE_SQL.items():
        mine = [a for a in aggregates if a.source == source]
        if not mine:
            continue
        con.execute(f"CREATE TEMP TABLE src_{source} AS {sql}")
        # Window functions over one row per user and day (a dense timeline holding the
        # day's totals): what a DuckDB user would write for rolling features.
        daily = [f"SUM({_value(a)}) AS x_{a.name}" for a in mine if a.kind == "sum"] + [
            f"MAX(CASE WHEN ({a.value}) THEN 1 END) AS x_{a.name}"
            for a in mine
            if a.kind == "last_day"
        ]
        windowed = []
        for a in mine:
            # Day d's totals sit on as-of date d+1, so W rows up to this one are the
            # days A-W .. A-1.
            frame = (
                f"OVER (PARTITION BY t.user_id ORDER BY t.as_of_date RANGE BETWEEN "
                f"INTERVAL {a.window_days - 1} DAY PRECEDING AND CURRENT ROW)"
            )
            if a.kind == "sum":
                windowed.append(f"COALESCE(SUM(x_{a.name}) {frame}, 0) AS {a.name}")
            elif a.kind == "last_day":
                windowed.append(
                    f"MAX(CASE WHEN x_{a.name} = 1 THEN t.as_of_date - 1 END) {frame} AS {a.name}"
                )
        if daily:
            con.execute(
                f"""
                CREATE TEMP TABLE win_{source} AS
                WITH d AS (SELECT user_id, day + 1 AS as_of_date, {", ".join(daily)}
                           FROM src_{source} GROUP BY ALL),
                bounds AS (SELECT user_id, MIN(as_of_date) AS a, MAX(as_of_date) AS z
                           FROM spine GROUP BY ALL),
                t AS (SELECT user_id, CAST(UNNEST(generate_series(
                          a - INTERVAL {lookback} DAY, z, INTERVAL 1 DAY)) AS DATE) AS as_of_date
                      FROM bounds)
                SELECT t.user_id, t.as_of_date, {", ".join(windowed)}
                FROM t LEFT JOIN d USING (user_id, as_of_date)
                QUALIFY t.as_of_date >= DATE '{first}'
                """
            )
            joins.append(f"win_{source}")
        for a in (a for a in mine if a.kind == "distinct"):
            # Windowed COUNT(DISTINCT) over the key rows interleaved with the spine rows.
            con.execute(
                f"""
                CREATE TEMP TABLE dist_{a.name} AS
                WITH rows AS (
                  SELECT user_id, day AS d, CAST(({a.value}) AS VARCHAR) AS k, 0 AS probe
                  FROM src_{source} WHERE ({a.value}) IS NOT NULL
                  UNION ALL
                  SELECT user_id, as_of_date AS d, NULL AS k, 1 AS probe FROM spine)
                SELECT user_id, d AS as_of_date, {a.name} FROM (
                  SELECT user_id, d, probe, COUNT(DISTINCT k) OVER (
                      PARTITION BY user_id ORDER BY d RANGE BETWEEN
                      INTERVAL {a.window_days} DAY PRECEDING AND INTERVAL 1 DAY PRECEDING
                  ) AS {a.name}
                  FROM rows)
                WHERE probe = 1
                """
            )
            joins.append(f"dist_{a.name}")
        for a in (a for a in mine if a.kind == "top"):
            con.execute(
                f"""
                CREATE TEMP TABLE top_{a.name} AS
                WITH daily AS (
                  SELECT user_id, day, {a.by} AS k, SUM({_value(a)}) AS v
                  FROM src_{source} WHERE {a.by} IS NOT NULL GROUP BY ALL),
                per_key AS (
                  SELECT s.user_id, s.as_of_date, d.k, SUM(d.v) AS v
                  FROM spine s JOIN daily d
                    ON d.user_id = s.user_id AND d.day < s.as_of_date
                   AND d.day >= s.as_of_date - INTERVAL {a.window_days} DAY
                  GROUP BY ALL)
                SELECT user_id, as_of_date, arg_max(k, (v, k)) AS {a.name},
                       MAX(v) AS {a.name}_value
                FROM per_key WHERE v > 0 GROUP BY ALL
                """
            )
            joins.append(f"top_{a.name}")
    con.execute(
        """
        CREATE TEMP TABLE season AS
        SELECT DISTINCT competition, CAST(UNNEST(generate_series(
            CAST(kickoff AS DATE) - 7, CAST(kickoff AS DATE) + 7, INTERVAL 1 DAY)) AS DATE) AS day
        FROM fixtures
        """
    )
    select = ["k.*"] + [f"{t}.* EXCLUDE (user_id, as_of_date)" for t in joins]
    top = next(a.name for a in aggregates if a.kind == "top")
    from_sql = " ".join(f"LEFT JOIN {t} USING (user_id, as_of_date)" for t in joins)
    con.execute(
        f"""
        CREATE TEMP TABLE wide AS
        SELECT {", ".join(select)}, (season.day IS NOT NULL) AS favourite_in_season
        FROM spine k {from_sql}
        LEFT JOIN season ON season.competition = {top}
                        AND season.day = k.as_of_date
        """
    )
    counts = {}
    for g in groups:
        names = sorted({a.name for a in g.aggregates} | {"market", "plan", "spell_number"})
        extra = [f"{a.name}_value" for a in g.aggregates if a.kind == "top"]
        cols = ", ".join(["user_id", "as_of_date", *names, *extra])
        arrow = con.execute(
            f"SELECT {cols}, strftime(as_of_date, '%Y-%m') AS as_of_month FROM wide"
        ).to_arrow_table()
        write_deltalake(f"{out}/{g.name}", arrow, mode="overwrite", partition_by=["as_of_month"])
        counts[g.name] = arrow.num_rows
    return counts
