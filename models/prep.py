"""Turning feature columns into the vector Spark ML wants, with no code per data set.

Numbers and booleans become doubles and missing values take the training median
(``Imputer``); strings are categories: indexed by frequency, with unseen and missing
values in a bucket of their own, then one-hot encoded. The stages go into the saved
model, so scoring applies exactly what training learned.
"""

from __future__ import annotations

from pyspark.ml.feature import (
    Imputer,
    OneHotEncoder,
    SQLTransformer,
    StandardScaler,
    StringIndexer,
    VectorAssembler,
)

VECTOR = "features"
RAW = "features_raw"  # clustering: the unscaled vector, for centroids and profiles


def _q(name: str) -> str:
    return f"`{name}`"


def stages(features: list[str], categorical: list[str], scale: bool = False) -> list:
    numeric = [f for f in features if f not in categorical]
    stages_: list = []
    casts = ", ".join(f"CAST({_q(f)} AS DOUBLE) AS {_q(f + '__num')}" for f in numeric)
    cats = ", ".join(f"CAST({_q(f)} AS STRING) AS {_q(f + '__str')}" for f in categorical)
    selected = ", ".join(x for x in ("*", casts, cats) if x)
    stages_.append(SQLTransformer(statement=f"SELECT {selected} FROM __THIS__"))
    assembled = []
    if numeric:
        stages_.append(
            Imputer(
                inputCols=[f + "__num" for f in numeric],
                outputCols=[f + "__imp" for f in numeric],
                strategy="median",
            )
        )
        assembled += [f + "__imp" for f in numeric]
    if categorical:
        stages_.append(
            StringIndexer(
                inputCols=[f + "__str" for f in categorical],
                outputCols=[f + "__idx" for f in categorical],
                handleInvalid="keep",
                stringOrderType="frequencyDesc",
            )
        )
        stages_.append(
            OneHotEncoder(
                inputCols=[f + "__idx" for f in categorical],
                outputCols=[f + "__oh" for f in categorical],
                handleInvalid="keep",
            )
        )
        assembled += [f + "__oh" for f in categorical]
    if scale:
        # Clustering: numbers standardised (a share and an hour count weigh alike);
        # one-hot columns stay 0/1, since standardising a rare category would blow
        # it up into the largest distance of all.
        stages_.append(VectorAssembler(inputCols=assembled, outputCol=RAW, handleInvalid="keep"))
        parts = [f + "__oh" for f in categorical]
        if numeric:
            numbers = [f + "__imp" for f in numeric]
            stages_.append(VectorAssembler(inputCols=numbers, outputCol="_numbers"))
            stages_.append(StandardScaler(inputCol="_numbers", outputCol="_scaled", withMean=True))
            parts.insert(0, "_scaled")
        stages_.append(VectorAssembler(inputCols=parts, outputCol=VECTOR))
    else:
        stages_.append(VectorAssembler(inputCols=assembled, outputCol=VECTOR, handleInvalid="keep"))
    return stages_


def slot_names(df, column: str = VECTOR) -> list[str]:
    """The name of each slot of an assembled vector column (from its ML metadata),
    with the working suffixes taken off: ``watch_hours_28d``, ``plan__oh_annual`` ->
    ``plan=annual``."""
    attrs = df.schema[column].metadata.get("ml_attr", {}).get("attrs", {})
    slots: dict[int, str] = {}
    for group in attrs.values():
        for a in group:
            slots[a["idx"]] = _clean(a["name"])
    return [slots.get(i, f"slot_{i}") for i in range(len(slots))]


def _clean(name: str) -> str:
    for suffix in ("__imp", "__num"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    if "__oh_" in name:
        base, _, level = name.partition("__oh_")
        return f"{base}={level}"
    return name


def with_values(df, features: list[str]) -> tuple[list[str], list[str]]:
    """(features with at least one value in ``df``, features that are all missing).
    A feature with no value in a partition (no win-backs yet in a new market) says
    nothing there, and would stop the median imputer: that model goes without it."""
    return count_values(df, features)[1:]


def count_values(df, features: list[str]) -> tuple[int, list[str], list[str]]:
    """The rows of ``df`` and ``with_values``, in one Spark job."""
    from pyspark.sql import functions as F

    counted = [F.count(F.col(f)).alias(f"_values_{i}") for i, f in enumerate(features)]
    row = df.agg(F.count(F.lit(1)).alias("_rows"), *counted).first()
    present = {f: row[f"_values_{i}"] for i, f in enumerate(features)}
    return (
        row["_rows"],
        [f for f in features if present[f]],
        [f for f in features if not present[f]],
    )


# Rows per task for a model's cached training rows. Spark ML runs a job per iteration
# (k-means, L-BFGS, each boosting round) with a task per partition, so a per-market
# model's few thousand rows spread over the frame's partitions are mostly scheduling.
ROWS_PER_TASK = 50_000


def right_sized(df, rows: int):
    """``df`` in one partition per ``ROWS_PER_TASK`` rows (at least one; never more
    than it has). A coalesce: no shuffle, the rows stay where they are read."""
    wanted = max(1, -(-rows // ROWS_PER_TASK))
    return df.coalesce(wanted) if wanted < df.rdd.getNumPartitions() else df
