"""Window aggregates per user and as-of date, two ways that give identical results.

* ``dense``: for a full build (every as-of date). Per user, one row per day of a dense
  timeline holding running totals; a window sum over W days is ``total(A) -
  total(A - W)``, read with ``lag`` (one sort per user, no range join). Distinct counts
  use coverage intervals: a key seen on day d counts for the as-of dates d+1 .. d+W,
  so each first sighting adds +1 and its expiry -1, and a running sum of those changes
  is the distinct count. Integer sums keep the two engines bit-identical.
* ``at_dates``: for an incremental run (a handful of as-of dates). Each activity row is
  copied to the few as-of dates whose lookback covers it and aggregated directly.

Both return the spine rows they were given plus one column per aggregate (``top``
adds ``<name>_value``). Empty windows give 0 for sums and distinct counts, null for
``last_day`` and ``top``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fanbase.features.spec import Aggregate

KEYS = ["user_id", "as_of_date"]


def lookback_days(aggregates: Iterable[Aggregate]) -> int:
    return max((a.window_days for a in aggregates), default=0)


def _value(a: Aggregate) -> F.Column:
    return F.coalesce(F.expr(a.value).cast("long"), F.lit(0))


def _finish(spine: DataFrame, aggregated: DataFrame | None, aggregates: Sequence[Aggregate]):
    """Left-join aggregates onto the spine and fill empty windows with the defaults."""
    out = spine if aggregated is None else spine.join(aggregated, KEYS, "left")
    fills = {a.name: a.default for a in aggregates if a.default is not None}
    return out.fillna(fills) if fills else out


# ---------------------------------------------------------------- dense engine


def dense(
    spine: DataFrame, sources: dict[str, DataFrame], aggregates: Sequence[Aggregate]
) -> DataFrame:
    """Aggregates for every spine row, through running totals per user. The caller
    should persist ``spine``: it is read several times."""
    if not aggregates:
        return spine
    lookback = lookback_days(aggregates)
    # Each user's first and last spine date; activity older than first - lookback
    # cannot reach any of the user's rows.
    users = spine.groupBy("user_id").agg(
        F.min("as_of_date").alias("_first"), F.max("as_of_date").alias("_last")
    )
    increments, tops = _increments(users, sources, aggregates, lookback)
    increments = increments.persist()
    x_cols = [c for c in increments.columns if c.startswith("_x_")]
    starts = increments.groupBy("user_id").agg(F.min("as_of_date").alias("_s"))
    bounds = users.join(starts, "user_id", "left").select(
        "user_id", F.least("_first", F.coalesce("_s", "_first")).alias("_t0"), "_last"
    )
    timeline = bounds.select("user_id", F.explode(F.sequence("_t0", "_last")).alias("as_of_date"))
    timeline = timeline.join(increments, KEYS, "left").fillna(0, subset=x_cols)

    running = (
        Window.partitionBy("user_id")
        .orderBy("as_of_date")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    ordered = Window.partitionBy("user_id").orderBy("as_of_date")
    cum_cols = []
    for a in aggregates:
        if a.kind in ("sum", "distinct"):
            cum_cols.append(F.sum(f"_x_{a.name}").over(running).alias(f"_c_{a.name}"))
        elif a.kind == "last_day":
            last = F.max(F.when(F.col(f"_x_{a.name}") > 0, F.date_sub("as_of_date", 1)))
            cum_cols.append(last.over(running).alias(f"_c_{a.name}"))
    timeline = timeline.select(*KEYS, *cum_cols)

    def windowed(column: str, days: int) -> F.Column:
        c = F.col(column)
        return c - F.coalesce(F.lag(c, days).over(ordered), F.lit(0))

    out_cols = []
    for a in aggregates:
        c = F.col(f"_c_{a.name}")
        if a.kind == "sum" or (a.kind == "distinct" and a.value == "day"):
            out_cols.append(windowed(f"_c_{a.name}", a.window_days).alias(a.name))
        elif a.kind == "distinct":
            out_cols.append(c.alias(a.name))  # the running sum of coverage changes
        elif a.kind == "last_day":
            out_cols.append(F.when(c >= F.date_sub("as_of_date", a.window_days), c).alias(a.name))
    aggregated = timeline.select(*KEYS, *out_cols)
    out = _finish(spine, aggregated, aggregates)
    for top in tops:
        out = out.join(top, KEYS, "left")
    return out


def _increments(users, sources, aggregates, lookback):
    """One frame keyed (user_id, as_of_date) with every aggregate's daily change, and
    the ``top`` aggregates' results (computed apart: see ``_top_by_intervals``).

    Activity of day d enters the as-of date d+1. Sums add their daily total; distinct
    counts of ``day`` (active days) add 1 per active day; other distinct counts add
    their coverage changes.
    """
    frames, tops = [], []
    for source_name, source in sources.items():
        mine = [a for a in aggregates if a.source == source_name]
        if not mine:
            continue
        rows = (
            source.join(users, "user_id")
            .where(F.col("day") >= F.date_sub("_first", lookback))
            .drop("_first", "_last")
        )
        if len(mine) > 1:
            rows = rows.persist()  # read once, aggregated several ways
        day_aggs = []
        for a in mine:
            if a.kind == "sum":
                day_aggs.append(F.sum(_value(a)).alias(f"_x_{a.name}"))
            elif a.kind == "last_day":
                day_aggs.append(F.max(F.when(F.expr(a.value), 1)).alias(f"_x_{a.name}"))
            elif a.kind == "distinct" and a.value == "day":
                day_aggs.append(F.lit(1).alias(f"_x_{a.name}"))
        if day_aggs:
            daily = rows.groupBy("user_id", "day").agg(*day_aggs)
            frames.append(
                daily.select(
                    "user_id",
                    F.date_add("day", 1).alias("as_of_date"),
                    *[c for c in daily.columns if c.startswith("_x_")],
                )
            )
        for a in mine:
            if a.kind == "distinct" and a.value != "day":
                frames.append(_coverage_changes(rows, a))
            elif a.kind == "top":
                tops.append(_top_by_intervals(rows, users, a))
    combined = frames[0]
    for f in frames[1:]:
        combined = combined.unionByName(f, allowMissingColumns=True)
    x_cols = [c for c in combined.columns if c.startswith("_x_")]
    if len(frames) > 1:
        combined = combined.groupBy(*KEYS).agg(*[F.sum(c).alias(c) for c in x_cols])
    return combined, tops


def _top_by_intervals(rows: DataFrame, users: DataFrame, a: Aggregate) -> DataFrame:
    """The key with the largest window sum, per user and as-of date.

    Per (user, key), the window sum is a step function: +v on day d+1, -v on day d+W+1.
    A running sum over those steps gives its value on intervals; the positive ones are
    expanded to the user's spine dates and the best key is picked per date. Long
    format keeps this one column wide however many keys there are.
    """
    w = a.window_days
    daily = (
        rows.where(F.col(a.by).isNotNull())
        .groupBy("user_id", F.col(a.by).alias("_k"), "day")
        .agg(F.sum(_value(a)).alias("_v"))
    )
    steps = daily.select(
        "user_id",
        "_k",
        F.explode(
            F.array(
                F.struct(F.date_add("day", 1).alias("d"), F.col("_v").alias("v")),
                F.struct(F.date_add("day", w + 1).alias("d"), (-F.col("_v")).alias("v")),
            )
        ).alias("_s"),
    )
    steps = steps.groupBy("user_id", "_k", F.col("_s.d").alias("d")).agg(F.sum("_s.v").alias("v"))
    by_key = Window.partitionBy("user_id", "_k").orderBy("d")
    levels = steps.select(
        "user_id",
        "_k",
        "d",
        F.sum("v").over(by_key.rowsBetween(Window.unboundedPreceding, 0)).alias("level"),
        F.date_sub(F.lead("d").over(by_key), 1).alias("until"),
    ).where((F.col("level") > 0) & F.col("until").isNotNull())
    clipped = levels.join(users, "user_id").select(
        "user_id",
        "_k",
        "level",
        F.greatest("d", "_first").alias("lo"),
        F.least("until", "_last").alias("hi"),
    )
    spread = clipped.where(F.col("lo") <= F.col("hi")).select(
        "user_id", "_k", "level", F.explode(F.sequence("lo", "hi")).alias("as_of_date")
    )
    best = spread.groupBy(*KEYS).agg(F.max(F.struct("level", "_k")).alias("_b"))
    return best.select(
        *KEYS, F.col("_b._k").alias(a.name), F.col("_b.level").alias(f"{a.name}_value")
    )


def _coverage_changes(rows: DataFrame, a: Aggregate) -> DataFrame:
    """+1 / -1 changes of a distinct count, dated by the as-of date they take effect."""
    seen = (
        rows.where(F.expr(a.value).isNotNull())
        .select("user_id", F.expr(a.value).alias("_k"), "day")
        .distinct()
    )
    prev = F.lag("day").over(Window.partitionBy("user_id", "_k").orderBy("day"))
    w = a.window_days
    with_prev = seen.select("user_id", "_k", "day", prev.alias("_prev"))
    # This sighting covers as-of dates day+1 .. day+W; the part already covered by the
    # previous sighting (up to prev+W) is not counted again.
    begin = F.when(F.col("_prev").isNull(), F.date_add("day", 1)).otherwise(
        F.greatest(F.date_add("day", 1), F.date_add("_prev", w + 1))
    )
    changes = with_prev.select(
        "user_id",
        F.explode(
            F.array(
                F.struct(begin.alias("as_of_date"), F.lit(1).alias("d")),
                F.struct(F.date_add("day", w + 1).alias("as_of_date"), F.lit(-1).alias("d")),
            )
        ).alias("_c"),
    )
    return changes.groupBy("user_id", F.col("_c.as_of_date").alias("as_of_date")).agg(
        F.sum("_c.d").cast("long").alias(f"_x_{a.name}")
    )


# ------------------------------------------------------------- at-dates engine


def at_dates(
    spine: DataFrame,
    sources: dict[str, DataFrame],
    aggregates: Sequence[Aggregate],
    dates: Sequence,
) -> DataFrame:
    """Aggregates for spine rows whose as-of dates are among ``dates`` (a short list)."""
    if not aggregates or not dates:
        return _finish(spine, None, aggregates)
    lookback = lookback_days(aggregates)
    ordered_dates = sorted(set(dates))
    candidates = F.array(*[F.lit(d).cast("date") for d in ordered_dates])
    # Only the lookback before the dates is read (partition pruning on the event date).
    oldest = F.date_sub(F.lit(ordered_dates[0]).cast("date"), lookback)
    scope = spine.select(*KEYS)
    results = []
    for source_name, source in sources.items():
        mine = [a for a in aggregates if a.source == source_name]
        if not mine:
            continue
        hits = F.filter(
            candidates,
            lambda d: (d > F.col("day")) & (d <= F.date_add(F.col("day"), lookback)),
        )
        recent = source.where(F.col("day") >= oldest)
        copied = recent.select("*", F.explode(hits).alias("as_of_date")).join(
            scope, KEYS, "left_semi"
        )
        in_window = {a.name: F.col("day") >= F.date_sub("as_of_date", a.window_days) for a in mine}
        aggs = []
        for a in mine:
            if a.kind == "sum":
                aggs.append(F.sum(F.when(in_window[a.name], _value(a)).otherwise(0)).alias(a.name))
            elif a.kind == "distinct":
                key = F.when(in_window[a.name], F.expr(a.value))
                aggs.append(F.count_distinct(key).cast("long").alias(a.name))
            elif a.kind == "last_day":
                hit = in_window[a.name] & F.coalesce(F.expr(a.value), F.lit(False))
                aggs.append(F.max(F.when(hit, F.col("day"))).alias(a.name))
        if aggs:
            results.append(copied.groupBy(*KEYS).agg(*aggs))
        for a in mine:
            if a.kind == "top":
                per_key = (
                    copied.where(in_window[a.name] & F.col(a.by).isNotNull())
                    .groupBy(*KEYS, F.col(a.by).alias("k"))
                    .agg(F.sum(_value(a)).alias("v"))
                )
                best = per_key.groupBy(*KEYS).agg(F.max(F.struct("v", "k")).alias("_b"))
                results.append(
                    best.select(
                        *KEYS,
                        F.when(F.col("_b.v") > 0, F.col("_b.k")).alias(a.name),
                        F.when(F.col("_b.v") > 0, F.col("_b.v")).alias(f"{a.name}_value"),
                    )
                )
    out = spine
    for r in results:
        out = out.join(r, KEYS, "left")
    return _finish(out, None, aggregates)
