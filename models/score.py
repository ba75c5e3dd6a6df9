"""Scoring with champions: current subscribers through each partition's champion model.

Rows are the subscribers on the newest as-of date of the feature store, built the way
the entry's training rows were (the same snapshots for segmentation). A partition with
no champion yet is reported and left out. Every output row carries its lineage: the
registered model and version, the MLflow run, and the feature table versions read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fanbase.models.catalog import Entry
from fanbase.models.frames import FrameBuilder, partition_rows, partition_values
from fanbase.models.registry import Registry, partition_label, registered_name

log = logging.getLogger(__name__)

PROFILES = "gold.segment_profiles"


def _lineage_fields() -> list[StructField]:
    return [
        StructField("registered_model", StringType(), False, {"comment": "MLflow model name"}),
        StructField("model_version", LongType(), False, {"comment": "champion version used"}),
        StructField("mlflow_run_id", StringType(), False, {"comment": "run that trained it"}),
        StructField(
            "feature_tables", StringType(), False, {"comment": "feature table versions (JSON)"}
        ),
        StructField("scored_at", TimestampType(), False, {"comment": "when scored (UTC)"}),
        StructField("score_run_id", StringType(), False, {"comment": "the score job's run id"}),
    ]


_KEY_FIELDS = [
    StructField("model", StringType(), False, {"comment": "catalog entry name"}),
    StructField("partition", StringType(), False, {"comment": "e.g. market=DE; '' if none"}),
    StructField("user_id", StringType(), False, {"comment": "subscriber"}),
    StructField("as_of_date", DateType(), False, {"comment": "features as of 00:00 UTC"}),
]

CHURN_SCHEMA = StructType(
    [
        *_KEY_FIELDS,
        StructField(
            "churn_probability",
            DoubleType(),
            False,
            {"comment": "calibrated probability of a cancel request within the horizon"},
        ),
        StructField(
            "risk_decile",
            IntegerType(),
            False,
            {"comment": "1 = the 10 % most at risk in the partition ... 10 = the least"},
        ),
        StructField("horizon_days", IntegerType(), False, {"comment": "label horizon"}),
        *_lineage_fields(),
    ]
)
CHURN_CHECKS = {
    "probability_range": "churn_probability BETWEEN 0 AND 1",
    "decile_range": "risk_decile BETWEEN 1 AND 10",
}

SEGMENT_SCHEMA = StructType(
    [
        *_KEY_FIELDS,
        StructField("segment_id", IntegerType(), False, {"comment": "stable across retrains"}),
        StructField("segment_name", StringType(), True, {"comment": "from its profile"}),
        *_lineage_fields(),
    ]
)

PROFILE_SCHEMA = StructType(
    [
        StructField("model", StringType(), False, {"comment": "catalog entry name"}),
        StructField("partition", StringType(), False, {"comment": "e.g. market=DE"}),
        StructField("registered_model", StringType(), False, {"comment": "MLflow model name"}),
        StructField("model_version", LongType(), False, {"comment": "champion version"}),
        StructField("segment_id", IntegerType(), False, {"comment": "stable segment id"}),
        StructField(
            "segment_name",
            StringType(),
            False,
            {"comment": "the features that set it apart most (high/low)"},
        ),
        StructField("size", LongType(), False, {"comment": "subscribers at training"}),
        StructField("share", DoubleType(), False, {"comment": "share of the partition"}),
        StructField(
            "means", MapType(StringType(), DoubleType()), False, {"comment": "feature means"}
        ),
        StructField(
            "distinguishing",
            MapType(StringType(), DoubleType()),
            False,
            {"comment": "standardised difference from everyone, top features"},
        ),
    ]
)


@dataclass
class Scored:
    rows: DataFrame | None
    inputs: DataFrame | None = None  # persisted feature rows; unpersist after writing
    profiles: list[tuple] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # partitions with no champion
    as_of_date: dt.date | None = None
    tables: dict[str, int] = field(default_factory=dict)  # tables read -> Delta version


def score_entry(
    builder: FrameBuilder, registry: Registry, entry: Entry, run_id: str, at: dt.date | None = None
) -> Scored:
    """The champions' scores of the subscribers on the newest as-of date (or ``at``)."""
    extra = ("cancel_pending",) if entry.kind == "churn" else ()
    frame = builder.snapshot_frame(entry, extra, at)
    snapshot = dt.date.fromisoformat(frame.lineage["snapshot"])
    if entry.kind == "churn":
        # A pending cancel is a known outcome, and training left those rows out too.
        frame.df = frame.df.where(~F.coalesce(F.col("cancel_pending"), F.lit(False)))
    # Read once, scored once per partition (the caller unpersists after writing).
    frame.df = frame.df.persist()
    feature_tables = json.dumps(frame.lineage["feature_tables"], sort_keys=True)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    parts, profiles, missing = [], [], []
    for values in partition_values(frame, entry):
        name = registered_name(registry.prefix, entry, values)
        label = partition_label(entry, values)
        loaded = registry.load_champion(name)
        if loaded is None:
            missing.append(name)
            log.warning("%s: no champion; %s not scored", name, label or "entry")
            continue
        model, version = loaded
        out = model.transform(partition_rows(frame, entry, values))
        lineage = [
            F.lit(name).alias("registered_model"),
            F.lit(int(version.version)).cast("long").alias("model_version"),
            F.lit(version.run_id).alias("mlflow_run_id"),
            F.lit(feature_tables).alias("feature_tables"),
            F.lit(now).alias("scored_at"),
            F.lit(run_id).alias("score_run_id"),
        ]
        keys = [F.lit(entry.name).alias("model"), F.lit(label).alias("partition"), "user_id"]
        if entry.kind == "churn":
            parts.append(
                out.select(
                    *keys,
                    F.lit(snapshot).alias("as_of_date"),
                    F.col("churn_probability"),
                    F.lit(entry.label.horizon_days).alias("horizon_days"),
                    *lineage,
                )
            )
        else:
            found = registry.champion_artifact(name, "profiles.json") or []
            names = {p["segment_id"]: p["segment_name"] for p in found}
            name_of = F.create_map(*[x for k, v in names.items() for x in (F.lit(k), F.lit(v))])
            parts.append(
                out.select(
                    *keys,
                    F.lit(snapshot).alias("as_of_date"),
                    F.col("segment_id"),
                    (name_of[F.col("segment_id")] if names else F.lit(None)).alias("segment_name"),
                    *lineage,
                )
            )
            profiles += [
                (
                    entry.name,
                    label,
                    name,
                    int(version.version),
                    int(p["segment_id"]),
                    p["segment_name"],
                    int(p["size"]),
                    float(p["share"]),
                    {k: float(v) for k, v in p["means"].items()},
                    {k: float(v) for k, v in p["distinguishing"].items()},
                )
                for p in found
            ]
    if not parts:
        frame.df.unpersist()
        return Scored(None, None, profiles, missing, snapshot, frame.tables_read())
    scored = parts[0]
    for p in parts[1:]:
        scored = scored.unionByName(p)
    if entry.kind == "churn":
        decile = F.ntile(10).over(
            Window.partitionBy("partition").orderBy(F.col("churn_probability").desc(), "user_id")
        )
        scored = scored.withColumn("risk_decile", decile).select(*CHURN_SCHEMA.fieldNames())
    else:
        scored = scored.select(*SEGMENT_SCHEMA.fieldNames())
    return Scored(scored, frame.df, profiles, missing, snapshot, frame.tables_read())
