"""Model monitoring: how each champion is doing on the newest data.

For a churn, segmentation, sentiment or Cox survival champion (one per entry and
partition) an evaluation has:

- drift without labels: the PSI of every feature between the rows the model was
  trained on and the newest scoring rows (models/drift.py); its drift score is the
  largest. Segmentation also compares segment shares now with those at training, and
  a sentiment pipeline (text has no feature columns) the shares of its predicted
  classes in the newest posts with the label shares it learnt from.
- performance on the newest labelled data: churn labels mature ``horizon_days`` after
  an as-of date, so the champion is scored on the newest matured as-of dates (the span
  of its test window) and, separately, its own earlier scores in the output table are
  evaluated once their labels have matured. Segmentation: silhouette on the newest rows.
  Sentiment: accuracy and macro F1 on the labels that arrived after its training.
  Survival: Harrell's concordance of its risk scores on the spells known at the newest
  snapshot (``survival_concordance``); its drift compares the fitted spells with the
  current subscribers it values.
- decay: the model's own value of the tracked metric (roc_auc, silhouette, accuracy,
  concordance) minus the newest value (the larger drop of the two churn windows).

A model is flagged when its drift score passes ``monitor.max_psi`` or its decay passes
``monitor.max_decay`` (catalog entry); ``monitor.action`` says whether the next
pipeline run retrains it or only reports it. A retrain waits (``hold``) while there is
no data newer than the champion's training window: a churn model's newest labels lag
the scoring date by its horizon, so a seasonal drift would otherwise retrain it on the
same rows every run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fanbase.models import metrics
from fanbase.models.catalog import MONITORED, Entry

EVALUATIONS = "ops.model_evaluations"


def _f(name, dtype, nullable, comment):
    return StructField(name, dtype, nullable, {"comment": comment})


EVALUATION_SCHEMA = StructType(
    [
        _f("evaluation_run_id", StringType(), False, "the monitor job's run id"),
        _f("evaluated_at", TimestampType(), False, "when (UTC)"),
        _f("entry", StringType(), False, "catalog entry"),
        _f("kind", StringType(), False, "churn, segmentation, sentiment or survival"),
        _f("partition", StringType(), False, "e.g. market=DE, language=de; '' if none"),
        _f("registered_model", StringType(), False, "MLflow model name"),
        _f("version", LongType(), False, "the champion version evaluated"),
        _f("training_window", StringType(), True, "as-of dates it was trained on"),
        _f("reference_rows", LongType(), False, "training rows drift is measured against"),
        _f("scoring_as_of", DateType(), False, "the newest as-of date: the scoring window"),
        _f("current_rows", LongType(), False, "rows in the scoring window"),
        _f("feature_psi", MapType(StringType(), DoubleType()), False, "PSI per feature"),
        _f("drift_score", DoubleType(), True, "largest PSI (segmentation: or share PSI)"),
        _f("drifted_features", ArrayType(StringType()), False, "features past max_psi"),
        _f(
            "metric",
            StringType(),
            False,
            "the metric followed: roc_auc, silhouette, accuracy, concordance",
        ),
        _f("training_value", DoubleType(), True, "its value on the model's test rows"),
        _f("labelled_window", StringType(), True, "newest labelled as-of dates evaluated"),
        _f("labelled_rows", LongType(), False, "rows in that window (0: not evaluated)"),
        _f("metrics", StringType(), True, "metrics on the newest window (JSON)"),
        _f("matured_rows", LongType(), False, "earlier scores whose labels matured"),
        _f("matured_metrics", StringType(), True, "metrics of those scores (JSON)"),
        _f("decay", DoubleType(), True, "training_value minus the newest value"),
        _f("flagged", BooleanType(), False, "past a threshold of the entry's monitor"),
        _f("reasons", StringType(), True, "why it is flagged, in words"),
        _f("action", StringType(), True, "when flagged: retrain, alert or hold (no newer data)"),
    ]
)


@dataclass
class Evaluation:
    entry: Entry
    partition: str
    registered_model: str
    version: int
    training_window: str | None
    training_value: float | None
    scoring_as_of: dt.date
    reference_rows: int = 0
    current_rows: int = 0
    feature_psi: dict[str, float] = field(default_factory=dict)
    share_psi: float | None = None
    labelled_window: str | None = None
    labelled_rows: int = 0
    metrics: dict = field(default_factory=dict)
    matured_rows: int = 0
    matured_metrics: dict = field(default_factory=dict)
    # Is there data the champion has not learnt from (later matured labels, a newer
    # snapshot, labels that arrived)? If not, retraining would give the same model.
    newer_data: bool = True

    @property
    def action(self) -> str | None:
        """What a flag leads to: ``retrain`` (the next ``train --due``), ``alert`` (the
        entry says only report it) or ``hold`` (retraining is wanted but would see no
        newer data; it becomes ``retrain`` once newer labels mature). None if healthy."""
        if not self.reasons():
            return None
        if self.entry.monitor.action == "alert":
            return "alert"
        return "retrain" if self.newer_data else "hold"

    @property
    def drift_score(self) -> float | None:
        scores = [v for v in [*self.feature_psi.values(), self.share_psi] if _finite(v)]
        return max(scores) if scores else None

    @property
    def drifted_features(self) -> list[str]:
        limit = self.entry.monitor.max_psi
        return sorted(f for f, v in self.feature_psi.items() if _finite(v) and v > limit)

    @property
    def decay(self) -> float | None:
        metric = MONITORED[self.entry.kind]
        newest = [m.get(metric) for m in (self.metrics, self.matured_metrics)]
        drops = [self.training_value - v for v in newest if _finite(v)]
        return max(drops) if drops and _finite(self.training_value) else None

    def reasons(self) -> list[str]:
        opts, out = self.entry.monitor, []
        psi = {f: self.feature_psi[f] for f in self.drifted_features}
        if psi:
            listed = ", ".join(f"{f} {v:.2f}" for f, v in sorted(psi.items(), key=lambda x: -x[1]))
            out.append(f"feature drift (PSI > {opts.max_psi:g}): {listed}")
        if _finite(self.share_psi) and self.share_psi > opts.max_psi:
            shares = "segment" if self.entry.kind == "segmentation" else "predicted class"
            out.append(f"{shares} shares moved (PSI {self.share_psi:.2f} > {opts.max_psi:g})")
        if self.decay is not None and self.decay > opts.max_decay:
            metric = MONITORED[self.entry.kind]
            out.append(
                f"{metric} fell {self.decay:.3f} below its test value {self.training_value:.3f} "
                f"(more than {opts.max_decay:g})"
            )
        return out

    def row(self, run_id: str, now: dt.datetime) -> tuple:
        reasons = self.reasons()
        return (
            run_id,
            now,
            self.entry.name,
            self.entry.kind,
            self.partition,
            self.registered_model,
            self.version,
            self.training_window,
            self.reference_rows,
            self.scoring_as_of,
            self.current_rows,
            {k: float(v) for k, v in self.feature_psi.items() if _finite(v)},
            self.drift_score,
            self.drifted_features,
            MONITORED[self.entry.kind],
            self.training_value if _finite(self.training_value) else None,
            self.labelled_window,
            self.labelled_rows,
            json.dumps(self.metrics, default=str) if self.metrics else None,
            self.matured_rows,
            json.dumps(self.matured_metrics, default=str) if self.matured_metrics else None,
            self.decay,
            bool(reasons),
            "; ".join(reasons) or None,
            self.action,
        )


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def expected_calibration_error(bins: list[dict]) -> float:
    """The row-weighted mean gap between predicted and observed churn per bin."""
    n = sum(b["n"] for b in bins)
    if not n:
        return float("nan")
    return sum(b["n"] * abs(b["mean_probability"] - b["observed_rate"]) for b in bins) / n


def churn_metrics(scored: DataFrame) -> dict:
    """Metrics of scored rows (``label``, ``probability``), as at training, plus the
    expected calibration error and the churn rate."""
    evaluation = metrics.evaluate(scored)
    bins = evaluation.reliability
    out = dict(evaluation.report)
    out["calibration_error"] = expected_calibration_error(bins)
    n = sum(b["n"] for b in bins)
    out["churn_rate"] = sum(b["observed_rate"] * b["n"] for b in bins) / n if n else None
    return out


def segment_shares(assigned: DataFrame) -> dict[str, int]:
    """Rows per segment id (as strings, the keys of a PSI histogram)."""
    rows = assigned.groupBy("segment_id").count().collect()
    return {str(r["segment_id"]): r["count"] for r in rows}


def training_shares(profiles: list[dict]) -> dict[str, int]:
    return {str(p["segment_id"]): int(p["size"]) for p in profiles}


def survival_concordance(
    rows: DataFrame, models: DataFrame, spec, categorical: tuple[str, ...] = ()
) -> DataFrame:
    """Harrell's concordance of survival models on counting-process rows, per partition.

    ``rows``: the spells' rows (``spec.duration``, ``spec.event``, covariates, partition
    and strata columns); ``models``: ``gold.survival_models`` rows (one per partition
    and stratum) whose coefficients score them. The risk score is the linear predictor
    in SQL (``value.linear_predictor``, as customer value uses it); the concordance is
    lifelines' on (duration, -risk, event) within each stratum, as at fitting, so on the
    fitted rows it equals the model's own. Rows of a stratum without a model are left out (counted
    in ``unmatched``). Returns ``partition``, ``rows``, ``events``, ``unmatched``,
    ``concordance`` (null without a comparable pair)."""
    from fanbase.models.value import covariate_map, label_column, linear_predictor

    keyed = rows.select(
        label_column(list(spec.partition_by)).alias("partition"),
        label_column(list(spec.strata)).alias("stratum"),
        covariate_map(rows, list(spec.covariates), categorical).alias("_x"),
        F.col(spec.duration).cast("double").alias("duration"),
        F.col(spec.event).cast("int").alias("event"),
    )
    scored = keyed.join(
        models.select("partition", "stratum", "coefficients"), ["partition", "stratum"], "left"
    ).select(
        "partition",
        "stratum",
        "duration",
        "event",
        F.when(
            F.col("coefficients").isNotNull(),
            linear_predictor(F.col("coefficients"), F.col("_x")),
        ).alias("risk"),
    )
    return scored.groupBy("partition").applyInPandas(
        concordance_of,
        "partition string, rows long, events long, unmatched long, concordance double",
    )


def concordance_of(pdf):
    """One partition's rows (``stratum``, ``duration``, ``event``, ``risk``; risk null:
    no model for the stratum). Pairs are compared within a stratum only (each has its
    own baseline), summed over strata: lifelines' stratified concordance, the one
    ``CoxPHFitter.concordance_index_`` reports."""
    import pandas as pd
    from lifelines.utils.concordance import (
        _concordance_ratio,
        _concordance_summary_statistics,
    )

    scored = pdf[pdf["risk"].notna()]
    correct = tied = pairs = 0
    for _, rows in scored.groupby("stratum"):
        if len(rows) < 2:
            continue
        c, t, n = _concordance_summary_statistics(
            rows["duration"].to_numpy(float),
            -rows["risk"].to_numpy(float),
            rows["event"].to_numpy(bool),
        )
        correct, tied, pairs = correct + c, tied + t, pairs + n
    return pd.DataFrame(
        {
            "partition": [pdf["partition"].iloc[0]],
            "rows": [len(scored)],
            "events": [int(scored["event"].sum())],
            "unmatched": [len(pdf) - len(scored)],
            # No comparable pair (no event, or one row): no value.
            "concordance": [_concordance_ratio(correct, tied, pairs) if pairs else None],
        }
    )


def matured_scores(scores: DataFrame, labels: DataFrame) -> DataFrame:
    """Earlier scores joined to their matured labels (``label``, ``probability``)."""
    return scores.join(labels, ["user_id", "as_of_date"]).select(
        "label", F.col("churn_probability").alias("probability")
    )
