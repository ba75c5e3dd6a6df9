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

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fanbase.lakehouse import sql_literal, sql_name

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
    row = reference.selectExpr(*_quantiles(columns, bins)).first()
    return {c: sorted(set(row[c] or [])) for c in columns}


def decile_edges_each(
    reference: DataFrame, by: list[str], keys: list[tuple], columns: list[str], bins: int = BINS
) -> list[dict]:
    """``decile_edges`` of each key's rows (``keys``: values of the ``by`` columns), in
    one aggregation grouped by key; a key without rows gets no cut points."""
    if not columns:
        return [{} for _ in keys]
    keyed = reference.selectExpr(f"{_key(by, keys)} AS _key", *map(sql_name, columns))
    grouped = keyed.where("_key IS NOT NULL").groupBy("_key")
    found = {r["_key"]: r for r in grouped.agg(*map(F.expr, _quantiles(columns, bins))).collect()}
    return [
        {c: sorted(set(found[i][c] or [])) if i in found else [] for c in columns}
        for i in range(len(keys))
    ]


# Expressions here are SQL text: a whole projection is one py4j call. Built as Column
# objects they cost a py4j round trip per literal and per CASE branch, some 40 for a
# feature, and train's 45-feature profiles spent longer building them than running them.
def _double(x: float) -> str:
    return sql_literal(float(x))  # edges read back from JSON may be ints


def _quantiles(columns: list[str], bins: int) -> list[str]:
    probabilities = ", ".join(_double(k / bins) for k in range(1, bins))
    # One aggregate per column, each skipping only its own nulls (DataFrame
    # approxQuantile over several columns drops a row with a null in any of them).
    return [
        f"percentile_approx(cast({sql_name(c)} as double), array({probabilities}), 10000)"
        f" AS {sql_name(c)}"
        for c in columns
    ]


def _bin(column: str, edges: list[float] | None) -> str:
    """The bin of each row: the index of the first edge at or above the value (numeric),
    the value itself (categorical), or MISSING."""
    c = sql_name(column)
    if edges is None:
        return f"coalesce(cast({c} as string), '{MISSING}')"
    cuts = " ".join(
        f"WHEN cast({c} as double) <= {_double(e)} THEN '{i}'" for i, e in enumerate(edges)
    )
    return f"CASE WHEN {c} IS NULL THEN '{MISSING}' {cuts} ELSE '{len(edges)}' END"


def _stacked(features: list[str]) -> str:
    """The binned feature columns as (feature, bin) rows."""
    pairs = ", ".join(f"{sql_literal(f)}, {sql_name(f)}" for f in features)
    return f"stack({len(features)}, {pairs}) AS (feature, bin)"


def bin_counts(df: DataFrame, features: list[str], edges: dict) -> dict[str, dict]:
    """Per feature, the rows of ``df`` in each bin of ``edges``: one aggregation."""
    binned = df.selectExpr(*[f"{_bin(f, edges[f])} AS {sql_name(f)}" for f in features])
    out: dict[str, dict] = {f: {} for f in features}
    for r in binned.selectExpr(_stacked(features)).groupBy("feature", "bin").count().collect():
        out[r["feature"]][r["bin"]] = r["count"]
    return out


def _key(by: list[str], keys: list[tuple]) -> str:
    """Each row's position in ``keys``, by its values of the ``by`` columns (a null
    value matches None); null for a row of no key."""

    def match(values: tuple) -> str:
        tests = [
            f"{sql_name(c)} IS NULL" if v is None else f"{sql_name(c)} = {sql_literal(v)}"
            for c, v in zip(by, values, strict=True)
        ]
        return " AND ".join(tests) or "true"

    whens = " ".join(f"WHEN {match(values)} THEN {i}" for i, values in enumerate(keys))
    return f"CASE {whens} END" if keys else "cast(null as int)"


def _bin_each(column: str, edges: list[list[float] | None]) -> str:
    """``_bin`` with each row cut at the edges of its key (``edges[_key]``): the same
    bins, for every key in one expression."""
    if any(e is None for e in edges):  # categorical (``fits`` keeps it so for every key)
        return _bin(column, None)
    c = sql_name(column)
    table = ", ".join(f"cast(array({', '.join(map(_double, e))}) as array<double>)" for e in edges)
    mine = f"element_at(array({table}), _key + 1)"
    first = f"array_position(transform({mine}, edge -> cast({c} as double) <= edge), true)"
    at = f"CASE WHEN {first} > 0 THEN {first} - 1 ELSE size({mine}) END"
    return f"CASE WHEN {c} IS NULL THEN '{MISSING}' ELSE cast({at} as string) END"


def bin_counts_each(
    df: DataFrame, by: list[str], keys: list[tuple], features: list[str], edges: list[dict]
) -> list[tuple[int, dict[str, dict]]]:
    """Per key (values of the ``by`` columns): its rows in ``df`` and, per feature, its
    rows in each bin of its own ``edges`` (``edges[i]`` for ``keys[i]``). One aggregation
    for all keys, where ``bin_counts`` of each key's rows would be a Spark job each."""
    keyed = df.selectExpr(f"{_key(by, keys)} AS _key", *map(sql_name, features))
    keyed = keyed.where("_key IS NOT NULL")
    rows = [0] * len(keys)
    counts: list[dict[str, dict]] = [{f: {} for f in features} for _ in keys]
    if not features:
        for r in keyed.groupBy("_key").count().collect():
            rows[r["_key"]] = r["count"]
        return list(zip(rows, counts, strict=True))
    binned = keyed.selectExpr(
        "_key", *[f"{_bin_each(f, [e[f] for e in edges])} AS {sql_name(f)}" for f in features]
    )
    stacked = binned.selectExpr("_key", _stacked(features))
    for r in stacked.groupBy("_key", "feature", "bin").count().collect():
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
