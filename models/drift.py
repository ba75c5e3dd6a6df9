"""Feature drift without labels: the population stability index (PSI) of each feature
between a model's training rows and the newest scoring rows.

PSI = sum over bins of (c - r) * ln(c / r), where r and c are the shares of the
reference (training) and current rows in each bin. Numeric features are cut at the
reference's deciles (so each reference bin holds about a tenth of the rows; repeated
edges merge, a 0/1 feature gets two bins), categorical ones bin by value; missing values
are a bin of their own. A share of 0 is floored at ``FLOOR`` so a bin that empties or
appears counts as a large, finite shift. Usual reading: below 0.1 stable, 0.1 to 0.25 a
moderate shift, above 0.25 a major one.

Only bin counts come back to the driver: a few numbers per feature. The reference
side (cut points and counts) is a small profile that train keeps with each model
(``profile``), so monitoring bins only the newest rows (``measure_against``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

FLOOR = 1e-4
BINS = 10
MISSING = "(missing)"
# The layout of a stored profile (see profile()); a different one is rebuilt, not read.
PROFILE_VERSION = 1


def psi(reference: dict, current: dict) -> float:
    """PSI of two histograms (bin -> count) over the union of their bins."""
    n_ref, n_cur = sum(reference.values()), sum(current.values())
    if not n_ref or not n_cur:
        return float("nan")
    total = 0.0
    for key in set(reference) | set(current):
        r = max(reference.get(key, 0) / n_ref, FLOOR)
        c = max(current.get(key, 0) / n_cur, FLOOR)
        total += (c - r) * math.log(c / r)
    return total


def decile_edges(reference: DataFrame, columns: list[str], bins: int = BINS) -> dict:
    """Per column, the distinct inner cut points at the reference's quantiles (nulls
    ignored; one pass over the rows for all columns)."""
    if not columns:
        return {}
    row = reference.agg(*_quantiles(columns, bins)).first()
    return {c: sorted(set(row[c] or [])) for c in columns}


def decile_edges_each(
    reference: DataFrame, by: list[str], keys: list[tuple], columns: list[str], bins: int = BINS
) -> list[dict]:
    """``decile_edges`` of each key's rows (``keys``: values of the ``by`` columns), in
    one aggregation grouped by key; a key without rows gets no cut points."""
    if not columns:
        return [{} for _ in keys]
    keyed = reference.select(_partition_index(by, keys).alias("_key"), *columns)
    found = {
        r["_key"]: r
        for r in keyed.where(F.col("_key").isNotNull())
        .groupBy("_key")
        .agg(*_quantiles(columns, bins))
        .collect()
    }
    return [
        {c: sorted(set(found[i][c] or [])) if i in found else [] for c in columns}
        for i in range(len(keys))
    ]


def _quantiles(columns: list[str], bins: int) -> list[Column]:
    probabilities = F.array(*[F.lit(k / bins) for k in range(1, bins)])
    # One aggregate per column, each skipping only its own nulls (DataFrame
    # approxQuantile over several columns drops a row with a null in any of them).
    return [
        F.percentile_approx(F.col(c).cast("double"), probabilities, 10000).alias(c) for c in columns
    ]


def _bin(column: str, edges: list[float] | None):
    """The bin of each row: the index of the first edge at or above the value (numeric),
    the value itself (categorical), or MISSING."""
    col = F.col(column)
    if edges is None:
        return F.coalesce(col.cast("string"), F.lit(MISSING))
    index = F.lit(len(edges))
    for i, edge in reversed(list(enumerate(edges))):
        index = F.when(col.cast("double") <= F.lit(edge), F.lit(i)).otherwise(index)
    return F.when(col.isNull(), F.lit(MISSING)).otherwise(index.cast("string"))


def bin_counts(df: DataFrame, features: list[str], edges: dict) -> dict[str, dict]:
    """Per feature, the rows of ``df`` in each bin of ``edges``: one aggregation."""
    binned = df.select(*[_bin(f, edges[f]).alias(f) for f in features])
    stacked = binned.select(
        F.explode(
            F.array(*[F.struct(F.lit(f).alias("feature"), F.col(f).alias("bin")) for f in features])
        ).alias("x")
    )
    out: dict[str, dict] = {f: {} for f in features}
    for r in stacked.groupBy("x.feature", "x.bin").count().collect():
        out[r["feature"]][r["bin"]] = r["count"]
    return out


def _partition_index(by: list[str], keys: list[tuple]) -> Column:
    """Each row's position in ``keys``, by its values of the ``by`` columns (a null
    value matches None); null for a row of no key."""
    index = F.lit(None).cast("int")
    for i, values in reversed(list(enumerate(keys))):
        match = F.lit(True)
        for column, value in zip(by, values, strict=True):
            match = match & (F.col(column).isNull() if value is None else F.col(column) == value)
        index = F.when(match, F.lit(i)).otherwise(index)
    return index


def _bin_each(column: str, edges: list[list[float] | None], index: Column) -> Column:
    """``_bin`` with each row cut at the edges of its key (``edges[index]``): the same
    bins, for every key in one expression."""
    col = F.col(column)
    if any(e is None for e in edges):  # categorical (``fits`` keeps it so for every key)
        return F.coalesce(col.cast("string"), F.lit(MISSING))
    table = F.array(*[F.array(*[F.lit(float(x)) for x in e]).cast("array<double>") for e in edges])
    mine, value = F.element_at(table, index + 1), col.cast("double")
    first = F.array_position(F.transform(mine, lambda edge: value <= edge), True)
    at = F.when(first > 0, first - 1).otherwise(F.size(mine))
    return F.when(col.isNull(), F.lit(MISSING)).otherwise(at.cast("string"))


def bin_counts_each(
    df: DataFrame, by: list[str], keys: list[tuple], features: list[str], edges: list[dict]
) -> list[tuple[int, dict[str, dict]]]:
    """Per key (values of the ``by`` columns): its rows in ``df`` and, per feature, its
    rows in each bin of its own ``edges`` (``edges[i]`` for ``keys[i]``). One aggregation
    for all keys, where ``bin_counts`` of each key's rows would be a Spark job each."""
    index = _partition_index(by, keys)
    keyed = df.select(index.alias("_key"), *features).where(F.col("_key").isNotNull())
    rows = [0] * len(keys)
    counts: list[dict[str, dict]] = [{f: {} for f in features} for _ in keys]
    if not features:
        for r in keyed.groupBy("_key").count().collect():
            rows[r["_key"]] = r["count"]
        return list(zip(rows, counts, strict=True))
    key = F.col("_key")
    binned = keyed.select(
        "_key", *[_bin_each(f, [e[f] for e in edges], key).alias(f) for f in features]
    )
    stacked = binned.select(
        "_key",
        F.explode(
            F.array(*[F.struct(F.lit(f).alias("feature"), F.col(f).alias("bin")) for f in features])
        ).alias("x"),
    )
    for r in stacked.groupBy("_key", "x.feature", "x.bin").count().collect():
        counts[r["_key"]][r["feature"]][r["bin"]] = r["count"]
    # Every row lands in one bin of each feature, missing values included.
    rows = [sum(c[features[0]].values()) for c in counts]
    return list(zip(rows, counts, strict=True))


def _edges(reference: DataFrame, features: list[str], categorical: list[str]) -> dict:
    edges: dict = decile_edges(reference, [f for f in features if f not in categorical])
    edges.update({f: None for f in features if f in categorical})
    return edges


@dataclass(frozen=True)
class Drift:
    reference_rows: int
    current_rows: int
    feature_psi: dict[str, float]  # empty unless both sides have rows


def profile(reference: DataFrame, features: list[str], categorical: list[str]) -> dict:
    """The reference side of ``measure`` as JSON-ready data: per feature its cut points
    (None for a categorical one) and the reference's rows per bin. Train keeps it with
    each model, so monitor bins only the newest rows and need not rebuild the training
    rows from the feature store; the reference is then exactly the rows it learnt from,
    even after the feature store was rebuilt under a changed definition."""
    edges = _edges(reference, features, categorical)
    counts = bin_counts(reference, features, edges) if features else {}
    # Every row lands in one bin of each feature, missing values included.
    rows = sum(counts[features[0]].values()) if features else reference.count()
    return {
        "version": PROFILE_VERSION,
        "features": list(features),
        "edges": {f: edges[f] for f in features},
        "counts": counts,
        "rows": rows,
    }


def fits(profile: dict, features: list[str], categorical: list[str]) -> bool:
    """Whether a stored profile bins these features the way ``profile`` would now (the
    same features, the same ones categorical); if not, the reference must be rebuilt."""
    if profile.get("version") != PROFILE_VERSION or profile.get("features") != list(features):
        return False
    return all((profile["edges"][f] is None) == (f in categorical) for f in features)


def measure_against(profile: dict, current: DataFrame) -> Drift:
    """Rows on each side and PSI per feature, the reference given by its profile."""
    features = profile["features"]
    if not features:
        return Drift(profile["rows"], current.count(), {})
    cur = bin_counts(current, features, profile["edges"])
    n_ref, n_cur = profile["rows"], sum(cur[features[0]].values())
    scores = {f: psi(profile["counts"][f], cur[f]) for f in features} if n_ref and n_cur else {}
    return Drift(n_ref, n_cur, scores)


def measure(
    reference: DataFrame, current: DataFrame, features: list[str], categorical: list[str]
) -> Drift:
    """Rows on each side and PSI per feature (training rows against the newest rows),
    from the bin counts alone: counting the rows again would be two more Spark jobs."""
    return measure_against(profile(reference, features, categorical), current)


def profile_each(
    reference: DataFrame,
    by: list[str],
    keys: list[tuple],
    features: list[str],
    categorical: list[str],
) -> list[dict]:
    """``profile`` of each key's rows (values of the ``by`` columns): two aggregations
    for all keys, not two Spark jobs per key."""
    numeric = [f for f in features if f not in categorical]
    edges = [
        {**cuts, **{f: None for f in features if f in categorical}}
        for cuts in decile_edges_each(reference, by, keys, numeric)
    ]
    counted = bin_counts_each(reference, by, keys, features, edges)
    return [
        {
            "version": PROFILE_VERSION,
            "features": list(features),
            "edges": {f: cuts[f] for f in features},
            "counts": counts,
            "rows": rows,
        }
        for cuts, (rows, counts) in zip(edges, counted, strict=True)
    ]


def measure_each(
    profiles: list[dict], current: DataFrame, by: list[str], keys: list[tuple]
) -> list[Drift]:
    """``measure_against(profiles[i], rows of keys[i])`` for every key at once: one
    aggregation over ``current`` where one per key would cost a Spark job each. The
    profiles are of the same features (as ``fits`` checks)."""
    if not keys:
        return []
    features = profiles[0]["features"]
    if any(p["features"] != features for p in profiles):
        raise ValueError("measure_each: the profiles are not of the same features")
    edges = [p["edges"] for p in profiles]
    out = []
    for kept, (n_cur, cur) in zip(
        profiles, bin_counts_each(current, by, keys, features, edges), strict=True
    ):
        n_ref = kept["rows"]
        ok = features and n_ref and n_cur
        scores = {f: psi(kept["counts"][f], cur[f]) for f in features} if ok else {}
        out.append(Drift(n_ref, n_cur, scores))
    return out
