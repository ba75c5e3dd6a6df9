"""The Spark side of survival: one ``applyInPandas`` group per partition runs
``survival.fit_partition`` on executors, and the small per-partition results become
the rows of the gold tables.

Only one row per partition (its results as JSON) comes back to the driver: the rows of
a partition meet only in a Python worker, so driver memory does not grow with the data.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from fanbase.models import survival
from fanbase.models.catalog import Entry, SurvivalOptions
from fanbase.models.frames import ModelFrame

CURVES = "gold.survival_curves"
HAZARD_RATIOS = "gold.hazard_ratios"
MODELS = "gold.survival_models"
CUSTOMER_VALUE = "gold.customer_value"
ACQUISITION_VALUE = "gold.acquisition_value"


def _f(name, dtype, nullable=True, comment=""):
    return StructField(name, dtype, nullable, {"comment": comment} if comment else {})


LINEAGE = [
    _f("model", StringType(), False, "catalog entry"),
    _f("partition", StringType(), False, "e.g. market=DE; '' when not partitioned"),
    _f("registered_model", StringType(), False, "MLflow registered model"),
    _f("model_version", LongType(), True, "registered version; null if the fit failed"),
    _f("mlflow_run_id", StringType(), True, "MLflow run of this fit"),
    _f("snapshot_date", DateType(), True, "data up to 00:00 UTC of this date"),
    _f("feature_tables", StringType(), True, "tables and Delta versions read (JSON)"),
    _f("run_id", StringType(), False, "the survival job run that wrote the row"),
]
CURVE_SCHEMA = StructType(
    [
        *LINEAGE,
        _f("group_column", StringType(), False, "'all', or the column the curve splits by"),
        _f("group_value", StringType(), False, "'all', or the column's value"),
        _f("day", IntegerType(), False, "tenure in days"),
        _f("survival", DoubleType(), False, "Kaplan-Meier probability of lasting past day"),
        _f("ci_lower", DoubleType(), True, "pointwise 95% interval"),
        _f("ci_upper", DoubleType(), True),
        _f("median_days", DoubleType(), True, "median survival; null if not reached"),
        _f("subjects", LongType(), False, "spells in the group"),
        _f("events", LongType(), False, "events in the group"),
    ]
)
HAZARD_SCHEMA = StructType(
    [
        *LINEAGE,
        _f("term", StringType(), False, "column of the design, e.g. plan[monthly]"),
        _f("covariate", StringType(), False),
        _f("level", StringType(), True, "the category level; null for a number"),
        _f("coef", DoubleType(), False, "log hazard ratio"),
        _f("se", DoubleType(), True),
        _f("hazard_ratio", DoubleType(), False),
        _f("ci_lower", DoubleType(), True, "95% interval of the hazard ratio"),
        _f("ci_upper", DoubleType(), True),
        _f("p_value", DoubleType(), True),
        _f("ph_p_value", DoubleType(), True, "proportional-hazards check (Schoenfeld trend)"),
        _f("ph_violated", BooleanType(), True, "ph_p_value below 0.05"),
    ]
)
COEFFICIENT = StructType(
    [
        _f("term", StringType()),
        _f("covariate", StringType()),
        _f("level", StringType()),
        _f("coef", DoubleType()),
        _f("center", DoubleType()),
        _f("fill_value", DoubleType()),
    ]
)
LOGRANK = StructType(
    [
        _f("group_column", StringType()),
        _f("groups", IntegerType()),
        _f("statistic", DoubleType()),
        _f("degrees_of_freedom", IntegerType()),
        _f("p_value", DoubleType()),
    ]
)
MODEL_SCHEMA = StructType(
    [
        *LINEAGE,
        _f("status", StringType(), False, "ok, failed, or skipped (too few events)"),
        _f("reason", StringType(), True),
        _f("notes", ArrayType(StringType()), True, "covariates left out, warnings"),
        _f("algorithm", StringType(), False, "cox or kaplan_meier"),
        _f("stratum", StringType(), True, "e.g. plan=annual; '' without strata"),
        _f("coefficients", ArrayType(COEFFICIENT), True, "lp = sum(coef * (x - center))"),
        _f("baseline_survival", ArrayType(DoubleType()), True, "S0 on day 0, 1, 2, ..."),
        _f("last_observed_day", IntegerType(), True, "later days are extrapolated"),
        _f("tail_hazard", DoubleType(), True, "daily hazard used beyond the last day"),
        _f("concordance", DoubleType(), True),
        _f("aic_partial", DoubleType(), True, "Cox partial-likelihood AIC"),
        _f("parametric_aic", MapType(StringType(), DoubleType()), True, "AIC per AFT model"),
        _f("best_parametric", StringType(), True, "the AFT model with the lowest AIC"),
        _f("logrank", ArrayType(LOGRANK), True, "log-rank test per group column"),
        _f("rows", LongType(), False, "counting-process rows"),
        _f("subjects", LongType(), False, "spells"),
        _f("events", LongType(), False),
        _f("alias", StringType(), True, "champion or challenger at fit time"),
    ]
)
VALUE_SCHEMA = StructType(
    [
        *LINEAGE,
        _f("as_of_date", DateType(), False, "the covariates' date (the snapshot)"),
        _f("user_id", StringType(), False),
        _f("subscription_id", StringType(), False),
        _f("market", StringType(), True),
        _f("plan", StringType(), True),
        _f("acquisition_channel", StringType(), True),
        _f("currency", StringType(), True),
        _f("price", DoubleType(), True, "per billing period"),
        _f("tenure_days", DoubleType(), False),
        _f("stratum", StringType(), True),
        _f("linear_predictor", DoubleType(), True),
        _f("horizon_days", IntegerType(), False),
        _f("expected_remaining_days", DoubleType(), True, "restricted mean within the horizon"),
        _f("expected_remaining_revenue", DoubleType(), True, "undiscounted, local currency"),
        _f("lifetime_value", DoubleType(), True, "discounted contribution within the horizon"),
        _f("extrapolated", BooleanType(), False, "the horizon reaches past observed tenure"),
    ]
)
ACQUISITION_SCHEMA = StructType(
    [
        *[f for f in LINEAGE if f.name not in ("model_version", "mlflow_run_id")],
        _f("market", StringType(), False),
        _f("acquisition_channel", StringType(), False),
        _f("currency", StringType(), True),
        _f("new_subscribers", LongType(), False, "spells started in the new-subscriber window"),
        _f("mean_lifetime_value", DoubleType(), True, "at signup, within the horizon"),
        _f("acquisition_cost", DoubleType(), True, "from config value.acquisition_cost"),
        _f("roi", DoubleType(), True, "(value - cost) / cost; null when the cost is 0"),
    ]
)


@dataclass
class PartitionResult:
    values: tuple  # the partition's values, in partition_by order (strings)
    result: dict  # survival.fit_partition's output

    @property
    def ok(self) -> bool:
        return self.result["status"] == "ok"


def spec_for(entry: Entry, frame: ModelFrame, extend_days: int) -> survival.SurvivalSpec:
    opts = entry.survival or SurvivalOptions()
    return survival.SurvivalSpec(
        covariates=tuple(frame.features),
        categorical=tuple(frame.categorical),
        strata=tuple(opts.strata),
        groups=tuple(opts.groups),
        partition_by=tuple(entry.partition_by),
        algorithm=entry.algorithm.name,
        parametric=tuple(opts.parametric),
        penalizer=opts.penalizer,
        min_events=opts.min_events,
        extend_days=extend_days,
        subject="subscription_id" if "subscription_id" in frame.df.columns else None,
    )


def fit_partitions(frame: ModelFrame, spec: survival.SurvivalSpec) -> list[PartitionResult]:
    """Fit every partition of the frame on the executors; one small result each."""
    wanted = [
        *spec.partition_by,
        *([spec.subject] if spec.subject else []),
        spec.entry,
        spec.duration,
        spec.event,
        *spec.covariates,
        *spec.strata,
        *spec.groups,
    ]
    df = frame.df.select(*[c for c in dict.fromkeys(wanted) if c])
    schema = StructType(
        [StructField(c, StringType(), True) for c in spec.partition_by]
        + [StructField("result", StringType(), False)]
    )
    fit = functools.partial(survival.fit_group, spec=spec)
    grouped = df.groupBy(*spec.partition_by) if spec.partition_by else df.groupBy()
    rows = grouped.applyInPandas(fit, schema).collect()
    out = [
        PartitionResult(tuple(r[c] for c in spec.partition_by), json.loads(r["result"]))
        for r in rows
    ]
    return sorted(out, key=lambda p: tuple("" if v is None else v for v in p.values))


# ---- rows of the gold tables ---------------------------------------------------------
def lineage(entry: Entry, label: str, name: str, version, run_id, snapshot, tables, job):
    return {
        "model": entry.name,
        "partition": label,
        "registered_model": name,
        "model_version": version,
        "mlflow_run_id": run_id,
        "snapshot_date": snapshot,
        "feature_tables": json.dumps(tables, sort_keys=True),
        "run_id": job,
    }


def curve_rows(result: dict, base: dict) -> list[dict]:
    medians = {(m["group_column"], m["group_value"]): m for m in result.get("medians", [])}
    out = []
    for c in result.get("curves", []):
        m = medians[(c["group_column"], c["group_value"])]
        for day, (s, lo, hi) in enumerate(zip(c["survival"], c["lower"], c["upper"], strict=True)):
            out.append(
                {
                    **base,
                    "group_column": c["group_column"],
                    "group_value": c["group_value"],
                    "day": day,
                    "survival": s,
                    "ci_lower": _finite(lo),
                    "ci_upper": _finite(hi),
                    "median_days": m["median_days"],
                    "subjects": m["subjects"],
                    "events": m["events"],
                }
            )
    return out


def hazard_rows(result: dict, base: dict) -> list[dict]:
    return [
        {**base, **{k: _finite(v) if isinstance(v, float) else v for k, v in h.items()}}
        for h in result.get("hazard_ratios", [])
    ]


def model_rows(result: dict, base: dict, algorithm: str, alias: str | None) -> list[dict]:
    common = {
        **base,
        "status": result["status"],
        "reason": result["reason"],
        "notes": result.get("notes") or [],
        "algorithm": algorithm,
        "concordance": result.get("concordance"),
        "aic_partial": result.get("aic_partial"),
        "parametric_aic": (result.get("parametric") or {}).get("aic"),
        "best_parametric": (result.get("parametric") or {}).get("best"),
        "logrank": result.get("logrank") or [],
        "rows": result["rows"],
        "subjects": result["subjects"],
        "events": result["events"],
        "alias": alias,
        "coefficients": result.get("coefficients") or [],
    }
    strata = result.get("strata") or []
    if result["status"] != "ok" or not strata:
        return [{**common, "stratum": None}]
    return [
        {
            **common,
            "stratum": s["stratum"],
            "baseline_survival": s["baseline_survival"],
            "last_observed_day": s["last_observed_day"],
            "tail_hazard": s["tail_hazard"],
        }
        for s in strata
    ]


def to_frame(spark, rows: list[dict], schema: StructType) -> DataFrame:
    names = schema.fieldNames()
    return spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], schema)


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """The schema's columns, in its order and types."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def acquisition_value(scored_new: DataFrame, costs: DataFrame) -> DataFrame:
    """Per model, partition, market and channel: new subscribers, their mean lifetime
    value at signup, the acquisition cost and ROI = (value - cost) / cost."""
    keys = ["model", "partition", "registered_model", "snapshot_date", "feature_tables", "run_id"]
    agg = scored_new.groupBy(*keys, "market", "acquisition_channel").agg(
        F.first("currency", ignorenulls=True).alias("currency"),
        F.count("*").alias("new_subscribers"),
        F.avg("lifetime_value").alias("mean_lifetime_value"),
    )
    joined = agg.join(costs, ["market", "acquisition_channel"], "left")
    roi = F.when(
        F.col("acquisition_cost") > 0,
        (F.col("mean_lifetime_value") - F.col("acquisition_cost")) / F.col("acquisition_cost"),
    )
    return joined.select(
        *keys,
        "market",
        "acquisition_channel",
        "currency",
        "new_subscribers",
        "mean_lifetime_value",
        "acquisition_cost",
        roi.alias("roi"),
    )


def _finite(value):
    if value is None:
        return None
    return value if value == value and abs(value) != float("inf") else None
