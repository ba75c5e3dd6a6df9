"""Feature drift without labels: the population stability index (PSI) of each feature
between a model's training rows and the newest scoring rows.

PSI = sum over bins of (c - r) * ln(c / r), where r and c are the shares of the
reference (training) and current rows in each bin. Numeric features are cut at the
reference's deciles (so each reference bin holds about a tenth of the rows; repeated
edges merge, a 0/1 feature gets two bins), categorical ones bin by value; missing values
are a bin of their own. A share of 0 is floored at ``FLOOR`` so a bin that empties or
appears counts as a large, finite shift. Usual reading: below 0.1 stable, 0.1 to 0.25 a
moderate shift, above 0.25 a major one.

Only bin counts come back to the driver: a few numbers per feature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

FLOOR = 1e-4
BINS = 10
MISSING = "(missing)"


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
    probabilities = F.array(*[F.lit(k / bins) for k in range(1, bins)])
    # One aggregate per column, each skipping only its own nulls (DataFrame
    # approxQuantile over several columns drops a row with a null in any of them).
    row = reference.agg(
        *[
            F.percentile_approx(F.col(c).cast("double"), probabilities, 10000).alias(c)
            for c in columns
        ]
    ).first()
    return {c: sorted(set(row[c] or [])) for c in columns}


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


def histograms(
    reference: DataFrame, current: DataFrame, features: list[str], categorical: list[str]
) -> dict[str, tuple[dict, dict]]:
    """Per feature, (reference counts, current counts) by bin: one aggregation per side."""
    edges = decile_edges(reference, [f for f in features if f not in categorical])
    edges.update({f: None for f in features if f in categorical})

    def counts(df: DataFrame) -> dict[str, dict]:
        binned = df.select(*[_bin(f, edges[f]).alias(f) for f in features])
        stacked = binned.select(
            F.explode(
                F.array(
                    *[F.struct(F.lit(f).alias("feature"), F.col(f).alias("bin")) for f in features]
                )
            ).alias("x")
        )
        rows = stacked.groupBy("x.feature", "x.bin").count().collect()
        out: dict[str, dict] = {f: {} for f in features}
        for r in rows:
            out[r["feature"]][r["bin"]] = r["count"]
        return out

    ref, cur = counts(reference), counts(current)
    return {f: (ref[f], cur[f]) for f in features}


@dataclass(frozen=True)
class Drift:
    reference_rows: int
    current_rows: int
    feature_psi: dict[str, float]  # empty unless both sides have rows


def measure(
    reference: DataFrame, current: DataFrame, features: list[str], categorical: list[str]
) -> Drift:
    """Rows on each side and PSI per feature (training rows against the newest rows),
    from the histograms alone: every row lands in one bin of each feature (missing
    values included), so any feature's bins add up to the rows, and counting them
    again would be two more Spark jobs."""
    if not features:
        return Drift(reference.count(), current.count(), {})
    counted = histograms(reference, current, features, categorical)
    ref_bins, cur_bins = counted[features[0]]
    n_ref, n_cur = sum(ref_bins.values()), sum(cur_bins.values())
    scores = {f: psi(r, c) for f, (r, c) in counted.items()} if n_ref and n_cur else {}
    return Drift(n_ref, n_cur, scores)
