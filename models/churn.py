"""Churn propensity with Spark ML: a search over the entry's grid, then calibration.

The rows split by time. The test set is the last ``split.test_days`` of as-of dates.
Training rows end ``label.horizon_days`` before the test starts, so no training label
looks into the test period. The last quarter of the training dates calibrates and
picks the grid point; the rest fits.

Class imbalance: rows are weighted so churners and stayers weigh the same in the fit.
The weighted model ranks well but over-states probabilities, so Platt scaling (a
logistic fit on the model's margin, on the unweighted calibration rows) maps its score
to a probability. It is strictly increasing, so ranking metrics are the model's own
(an isotonic fit would tie scores in steps and lose ranking). It is the last stage of
the saved pipeline; scoring reads ``churn_probability``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import (
    GBTClassifier,
    LogisticRegression,
    RandomForestClassifier,
)
from pyspark.ml.feature import VectorSlicer
from pyspark.ml.regression import GeneralizedLinearRegression
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fanbase.models import metrics, prep
from fanbase.models.catalog import Entry
from fanbase.models.frames import ModelFrame

OUTPUT = "churn_probability"
CALIBRATION_SHARE = 0.25


class TrainingError(Exception):
    """A model cannot be trained on these rows; worded for the analyst."""


class NotEnoughData(TrainingError):
    """Too little data for this model yet (rows, churners, days of history): the model
    is skipped with the reason, not failed. A new market or a young deployment must not
    fail the nightly pipeline."""


@dataclass
class Trained:
    model: PipelineModel
    params: dict
    metrics: dict[str, float]
    rows: dict[str, int]
    importances: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list] = field(default_factory=dict)  # e.g. reliability bins
    extra: dict = field(default_factory=dict)  # kind-specific artifacts (JSON-able)
    input_columns: list[str] = field(default_factory=list)


def _classifier(name: str, seed: int):
    common = {"featuresCol": prep.VECTOR, "labelCol": "label", "weightCol": "weight"}
    if name == "logistic_regression":
        return LogisticRegression(maxIter=100, **common)
    if name == "gbt":
        return GBTClassifier(seed=seed, **common)
    if name == "random_forest":
        return RandomForestClassifier(seed=seed, **common)
    raise TrainingError(f"no churn algorithm '{name}'")


def grid_points(grid: dict[str, list]) -> list[dict]:
    keys = sorted(grid)
    return [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(grid[k] for k in keys))
    ]


def time_split(
    df: DataFrame, time_column: str | None, test_days: int, gap_days: int, seed: int
) -> tuple[DataFrame, DataFrame, DataFrame, dict]:
    """(fit, calibration, test) rows and the dates that bound them."""
    if time_column is None:
        fit, calibration, test = df.randomSplit([0.6, 0.2, 0.2], seed=seed)
        return fit, calibration, test, {"split": "random 60/20/20"}
    day = F.to_date(F.col(time_column))
    first, last = df.agg(F.min(day), F.max(day)).first()
    if first is None:
        raise TrainingError("no rows to train on")
    test_first = last - dt.timedelta(days=test_days - 1)
    train_last = test_first - dt.timedelta(days=gap_days + 1)
    if train_last < first:
        raise NotEnoughData(
            f"the rows span {first}..{last}: too short for {test_days} test days after "
            f"{gap_days} days of label horizon; lower `split.test_days` or add data"
        )
    calibration_first = train_last - dt.timedelta(
        days=int((train_last - first).days * CALIBRATION_SHARE)
    )
    window = {
        "train_first": str(first),
        "calibration_first": str(calibration_first),
        "train_last": str(train_last),
        "test_first": str(test_first),
        "test_last": str(last),
    }
    # Fit rows end a horizon before calibration starts, as training ends before the test.
    fit_last = calibration_first - dt.timedelta(days=gap_days + 1)
    if fit_last < first:
        raise NotEnoughData(
            f"the rows span {first}..{last}: too short to fit, calibrate and test with "
            f"{gap_days} days of label horizon between them; lower `split.test_days` or add data"
        )
    window["fit_last"] = str(fit_last)
    return (
        df.where(day <= F.lit(fit_last)),
        df.where((day >= F.lit(calibration_first)) & (day <= F.lit(train_last))),
        df.where(day >= F.lit(test_first)),
        window,
    )


def _class_counts(splits: dict[str, DataFrame]) -> dict[str, tuple[int, int]]:
    """(rows, churners) of each split, counted in one Spark job."""
    tagged = [df.select(F.lit(what).alias("split"), "label") for what, df in splits.items()]
    union = tagged[0]
    for df in tagged[1:]:
        union = union.unionByName(df)
    rows = union.groupBy("split").agg(F.count("*").alias("n"), F.sum("label").alias("pos"))
    got = {r["split"]: (int(r["n"]), int(r["pos"] or 0)) for r in rows.collect()}
    for what in splits:
        n, pos = got.get(what, (0, 0))
        if n == 0 or pos == 0 or pos == n:
            raise NotEnoughData(
                f"the {what} rows need churners and stayers; got {pos} churners in {n} rows"
            )
    return {what: got[what] for what in splits}


def train(entry: Entry, frame: ModelFrame, rows: DataFrame, seed: int) -> Trained:
    columns = list(dict.fromkeys([*frame.features, "label"]))
    keep = [c for c in [frame.time_column] if c] + columns
    data = rows.select(*keep).where(F.col("label").isNotNull())
    gap = entry.label.horizon_days if entry.source is None else 0
    fit, calibration, test, window = time_split(
        data, frame.time_column, entry.split.test_days, gap, seed
    )
    counts = _class_counts({"fitting": fit, "calibration": calibration, "test": test})
    (n_fit, pos_fit), (n_cal, _), (n_test, _) = counts.values()

    features, empty = prep.with_values(fit, frame.features)
    if not features:
        raise TrainingError(f"every feature is missing in these rows: {empty}")
    categorical = [c for c in frame.categorical if c in features]
    prep_model = Pipeline(stages=prep.stages(features, categorical)).fit(fit)
    # Balanced weights: each class weighs half the fitting rows.
    w_pos, w_neg = n_fit / (2.0 * pos_fit), n_fit / (2.0 * (n_fit - pos_fit))
    weight = F.when(F.col("label") == 1, w_pos).otherwise(w_neg)
    fit_x = prep.right_sized(prep_model.transform(fit).withColumn("weight", weight), n_fit)
    fit_x = fit_x.cache()
    cal_x = prep_model.transform(calibration).withColumn("weight", F.lit(1.0))
    cal_x = prep.right_sized(cal_x, n_cal).cache()

    best = None
    search = []
    base = _classifier(entry.algorithm.name, seed)
    for point in grid_points(entry.algorithm.grid) or [{}]:
        clf = base.copy({base.getParam(k): v for k, v in point.items()})
        model = clf.fit(fit_x)
        auc = metrics.roc_auc(_positive_score(model.transform(cal_x)), score="score")
        search.append({**point, "calibration_roc_auc": auc})
        if best is None or auc > best[0]:
            best = (auc, point, model)
    _, params, clf_model = best

    # Platt scaling: a logistic fit of the label on the model's margin, on unweighted
    # rows. Strictly increasing, so the ranking (ROC-AUC, lift) is the model's own;
    # with weighted fitting it also undoes the shift the weights put on the margin.
    margin = VectorSlicer(inputCol="rawPrediction", outputCol="_margin", indices=[1])
    calibrator = GeneralizedLinearRegression(
        family="binomial",
        link="logit",
        featuresCol="_margin",
        labelCol="label",
        predictionCol=OUTPUT,
    ).fit(margin.transform(clf_model.transform(cal_x)))
    pipeline = PipelineModel(stages=[*prep_model.stages, clf_model, margin, calibrator])
    fit_x.unpersist()
    cal_x.unpersist()

    scored = pipeline.transform(prep.right_sized(test, n_test))
    evaluation = metrics.evaluate(scored.select("label", F.col(OUTPUT).alias("probability")))
    slots = prep.slot_names(prep_model.transform(fit.limit(1)))
    return Trained(
        model=pipeline,
        params={"algorithm": entry.algorithm.name, **params, **window, "no_values": empty},
        metrics={**evaluation.report, "test_churn_rate": _rate(evaluation.reliability)},
        rows={"fit": n_fit, "calibration": n_cal, "test": n_test},
        importances=_importances(clf_model, slots),
        curves={
            "reliability": evaluation.reliability,
            "lift": evaluation.lift,
            "grid_search": search,
        },
        input_columns=features,
    )


def _positive_score(scored: DataFrame) -> DataFrame:
    from pyspark.ml.functions import vector_to_array

    return scored.select("label", vector_to_array("probability")[1].alias("score"))


def _rate(bins: list[dict]) -> float:
    n = sum(b["n"] for b in bins)
    return sum(b["observed_rate"] * b["n"] for b in bins) / n if n else float("nan")


def _importances(model, slots: list[str]) -> dict[str, float]:
    if hasattr(model, "coefficients"):
        values = model.coefficients.toArray()
    elif hasattr(model, "featureImportances"):
        values = model.featureImportances.toArray()
    else:
        return {}
    return {slots[i] if i < len(slots) else f"slot_{i}": float(v) for i, v in enumerate(values)}
