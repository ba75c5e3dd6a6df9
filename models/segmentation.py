"""Customer segments: Spark ML clustering with k chosen by silhouette.

Features are standardised, so a share and an hour count weigh alike. Each k of the grid
is fitted (``algorithm.restarts`` times, from consecutive seeds; the restart with the
lowest cost is kept) and scored by silhouette (squared Euclidean, Spark's
``ClusteringEvaluator``); the best wins.

Segment ids stay stable across retrains: the new clusters are matched to the previous
champion's centroids (Hungarian assignment on standardised distance) and take their
ids; clusters with no match get fresh ids. The mapping is a stage of the saved model,
so scoring writes the stable ``segment_id`` directly.

Each segment gets a profile (size, share, mean of each feature) and a name from the
features that set it apart most: ``high tv_share_28d, high live_share_28d``.
"""

from __future__ import annotations

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import BisectingKMeans, GaussianMixture, KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import SQLTransformer
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fanbase.models import prep
from fanbase.models.catalog import Entry
from fanbase.models.churn import NotEnoughData, Trained, TrainingError, grid_points
from fanbase.models.frames import ModelFrame

OUTPUT = "segment_id"
NAME_FEATURES = 2  # features in a segment's name


def _algorithm(name: str, seed: int):
    if name == "kmeans":
        return KMeans(featuresCol=prep.VECTOR, seed=seed)
    if name == "bisecting_kmeans":
        return BisectingKMeans(featuresCol=prep.VECTOR, seed=seed)
    if name == "gaussian_mixture":
        return GaussianMixture(featuresCol=prep.VECTOR, seed=seed)
    raise TrainingError(f"no segmentation algorithm '{name}'")


def _cost(model) -> float:
    """What a fit minimises: the within-cluster sum of squared distances (k-means,
    bisecting k-means) or the negative log-likelihood (Gaussian mixture)."""
    summary = model.summary
    if hasattr(summary, "trainingCost"):
        return float(summary.trainingCost)
    return -float(summary.logLikelihood)


def train(
    entry: Entry,
    frame: ModelFrame,
    rows: DataFrame,
    seed: int,
    previous: dict[int, dict[str, float]] | None = None,
) -> Trained:
    """``previous``: the champion's centroids (segment id -> feature -> mean)."""
    data = rows.select(*frame.features)
    n, features, empty = prep.count_values(data, frame.features)
    if n < 10:
        raise NotEnoughData(f"{n} rows: too few to cluster")
    if not features:
        raise TrainingError(f"every feature is missing in these rows: {empty}")
    categorical = [c for c in frame.categorical if c in features]
    prep_model = Pipeline(stages=prep.stages(features, categorical, scale=True)).fit(data)
    x = prep.right_sized(prep_model.transform(data), n).cache()
    evaluator = ClusteringEvaluator(featuresCol=prep.VECTOR, predictionCol="prediction")
    search, best = [], None
    for point in grid_points(entry.algorithm.grid) or [{}]:
        if point.get("k", 2) >= n:
            continue
        # Restarts differ only in their seed, so the fit's own objective picks among
        # them (as scikit-learn's n_init does); only the pick is scored by silhouette,
        # which compares the grid's points and costs Spark jobs of its own.
        fits = []
        for start in range(entry.algorithm.restarts):
            base = _algorithm(entry.algorithm.name, seed + start)
            model = base.copy({base.getParam(k): v for k, v in point.items()}).fit(x)
            fits.append((_cost(model), seed + start, model))
        _, chosen, model = min(fits, key=lambda fit: fit[0])
        score = evaluator.evaluate(model.transform(x))
        costs = {str(s): c for c, s, _ in fits}
        search.append({**point, "seed": chosen, "costs": costs, "silhouette": score})
        if best is None or score > best[0]:
            best = (score, point, model)
    if best is None:
        raise NotEnoughData(f"{n} rows: too few for any k of the grid")
    silhouette, params, cluster_model = best

    slots = prep.slot_names(x, prep.RAW)
    assigned = cluster_model.transform(x)
    centroids, sizes = _centroids(assigned, slots)
    scale = _spread(x, slots)
    mapping = match_ids(centroids, previous or {}, scale, sizes)
    # A cluster that won no training row may still win a scored row: give it an id too.
    fresh = max(mapping.values(), default=-1) + 1
    for c in range(cluster_model.getK()):
        if c not in mapping:
            mapping[c] = fresh
            fresh += 1
    cases = " ".join(f"WHEN {c} THEN {s}" for c, s in sorted(mapping.items()))
    relabel = SQLTransformer(
        statement=f"SELECT *, CAST(CASE prediction {cases} END AS INT) AS {OUTPUT} FROM __THIS__"
    )
    pipeline = PipelineModel(stages=[*prep_model.stages, cluster_model, relabel])
    overall = _overall(x, slots)
    x.unpersist()

    stable = {mapping[c]: centroids[c] for c in centroids}  # clusters with rows
    sizes = {mapping[c]: sizes[c] for c in sizes}
    profiles = profile_segments(stable, sizes, overall, scale)
    return Trained(
        model=pipeline,
        params={"algorithm": entry.algorithm.name, **params, "no_values": empty},
        metrics={"silhouette": silhouette, "k": float(len(stable)), "rows": float(n)},
        rows={"fit": n},
        curves={"grid_search": search},
        extra={"centroids": {str(k): v for k, v in stable.items()}, "profiles": profiles},
        input_columns=features,
    )


def _centroids(assigned: DataFrame, slots: list[str]) -> tuple[dict, dict]:
    """Per cluster: the mean of every raw (unscaled) slot, and the row count."""
    rows = (
        assigned.groupBy("prediction")
        .agg(
            Summarizer.mean(F.col(prep.RAW)).alias("mean"),
            F.count("*").alias("n"),
        )
        .collect()
    )
    centroids = {
        r["prediction"]: dict(zip(slots, map(float, r["mean"]), strict=True)) for r in rows
    }
    return centroids, {r["prediction"]: int(r["n"]) for r in rows}


def _overall(x: DataFrame, slots: list[str]) -> dict[str, float]:
    mean = x.agg(Summarizer.mean(F.col(prep.RAW))).first()[0]
    return dict(zip(slots, map(float, mean), strict=True))


def _spread(x: DataFrame, slots: list[str]) -> dict[str, float]:
    std = x.agg(Summarizer.std(F.col(prep.RAW))).first()[0]
    return {s: (float(v) if v and v > 0 else 1.0) for s, v in zip(slots, std, strict=True)}


def match_ids(
    current: dict[int, dict[str, float]],
    previous: dict[int, dict[str, float]],
    scale: dict[str, float],
    sizes: dict[int, int],
) -> dict[int, int]:
    """Cluster index -> stable segment id: the previous id of the nearest previous
    centroid (one-to-one, least total standardised distance), fresh ids after the
    largest previous one for clusters left over. Without a previous model, clusters
    are numbered by size, largest first, so ids do not depend on the fit's order."""
    from scipy.optimize import linear_sum_assignment

    clusters = sorted(current)
    if not previous:
        by_size = sorted(clusters, key=lambda c: (-sizes[c], c))
        return {c: i for i, c in enumerate(by_size)}
    names = sorted(scale)
    old_ids = sorted(previous)

    def vec(centroid: dict[str, float]) -> np.ndarray:
        return np.array([centroid.get(s, 0.0) / scale[s] for s in names])

    cost = np.array(
        [[np.linalg.norm(vec(current[c]) - vec(previous[p])) for p in old_ids] for c in clusters]
    )
    rows, cols = linear_sum_assignment(cost)
    mapping = {clusters[r]: old_ids[c] for r, c in zip(rows, cols, strict=True)}
    fresh = max(old_ids) + 1
    for c in clusters:
        if c not in mapping:
            mapping[c] = fresh
            fresh += 1
    return mapping


def profile_segments(
    centroids: dict[int, dict[str, float]],
    sizes: dict[int, int],
    overall: dict[str, float],
    scale: dict[str, float],
) -> list[dict]:
    """One profile per segment: size, share, feature means, the features that set it
    apart (standardised difference from everyone) and a name made from them."""
    total = sum(sizes.values())
    out = []
    for sid in sorted(centroids):
        z = {f: (centroids[sid][f] - overall[f]) / scale[f] for f in centroids[sid]}
        top = sorted(z, key=lambda f: (-abs(z[f]), f))[:NAME_FEATURES]
        out.append(
            {
                "segment_id": sid,
                "segment_name": ", ".join(f"{'high' if z[f] > 0 else 'low'} {f}" for f in top),
                "size": sizes[sid],
                "share": sizes[sid] / total if total else 0.0,
                "means": centroids[sid],
                "distinguishing": {f: z[f] for f in top},
            }
        )
    return out
