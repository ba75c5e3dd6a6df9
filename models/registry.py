"""MLflow for catalog models: one run per trained model, a registered name per entry
and partition, and aliases that say which version scoring uses.

A new version becomes ``champion`` only when every gate of its entry passes;
otherwise it is the ``challenger`` and the champion stays where it was. Runs carry
lineage tags: the feature table versions read, the data window and the code version.
"""

from __future__ import annotations

import json
import math
import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from fanbase import code_version
from fanbase.models import churn, plots, segmentation
from fanbase.models.catalog import LOWER_IS_BETTER, Entry
from fanbase.models.churn import Trained

# MLflow's hint is about integer inputs that may be missing: the inputs are cast to doubles
# before the signature is inferred, and the integer output (a segment id) is never missing.
warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")

CHAMPION, CHALLENGER = "champion", "challenger"
# SQLite, the laptop default, takes one writer at a time: registry writes are serialised.
_REGISTRY_LOCK = threading.Lock()

# Spark models this process registered or loaded, by registry, version and Spark
# application. `fanbase run` scores and monitors the champions it has just trained in
# the same process, and loading a pipeline back from MLflow costs Spark jobs per stage
# (a second or more each). A registered version never changes, so the model is the
# same wherever it came from. Bounded: models are small, but not free.
MODELS_KEPT = 64
_MODELS: OrderedDict = OrderedDict()
_MODELS_LOCK = threading.Lock()


def _model_key(name: str, version, run_id: str) -> tuple:
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    app = sc.applicationId if sc is not None else None
    return (mlflow.get_tracking_uri(), name, int(version), run_id, app)


def _remember(key: tuple, model) -> None:
    with _MODELS_LOCK:
        _MODELS[key] = model
        _MODELS.move_to_end(key)
        while len(_MODELS) > MODELS_KEPT:
            _MODELS.popitem(last=False)


def _recall(key: tuple):
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            _MODELS.move_to_end(key)
        return model


def registered_name(prefix: str, entry: Entry, values: tuple) -> str:
    parts = [prefix, entry.name, *(_slug(v) for v in values)]
    return "_".join(p for p in parts if p)


def partition_label(entry: Entry, values: tuple) -> str:
    """``market=DE`` (``a=1/b=x`` for several columns); empty when unpartitioned."""
    return "/".join(f"{c}={v}" for c, v in zip(entry.partition_by, values, strict=True))


def _slug(value) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(value).lower()).strip("_") or "none"


def gate_failures(entry: Entry, metrics: dict[str, float]) -> list[str]:
    """Each gate the metrics miss, in words; an empty list means promote."""
    failed = []
    for metric, gate in entry.gates.items():
        value = metrics.get(metric)
        if value is None or math.isnan(value):
            failed.append(f"{metric} is missing")
            continue
        if metric in LOWER_IS_BETTER:
            if gate.max is not None and value > gate.max:
                failed.append(f"{metric} {value:.4f} > max {gate.max}")
        elif gate.min is not None and value < gate.min:
            failed.append(f"{metric} {value:.4f} < min {gate.min}")
        elif gate.max is not None and value > gate.max:
            failed.append(f"{metric} {value:.4f} > max {gate.max}")
    return failed


@dataclass
class Registered:
    name: str
    version: int
    alias: str
    run_id: str
    failed_gates: list[str]


class Registry:
    def __init__(self, experiment_id: str, prefix: str):
        self.experiment_id = experiment_id
        self.prefix = prefix
        self.client = MlflowClient()

    # ---- reading ---------------------------------------------------------------
    def version_by_alias(self, name: str, alias: str = CHAMPION):
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException as err:
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None  # no such model, or no version with that alias
            raise

    def champion_artifact(self, name: str, artifact: str) -> dict | None:
        """A JSON artifact of the champion's run (e.g. segment centroids), or None."""
        version = self.version_by_alias(name)
        return None if version is None else self.run_artifact(version.run_id, artifact)

    def run_artifact(self, run_id: str, artifact: str) -> dict | None:
        """A JSON artifact of a run, or None if it has none (e.g. logged before it was)."""
        try:
            return mlflow.artifacts.load_dict(f"runs:/{run_id}/{artifact}")
        except (MlflowException, OSError):
            return None

    def load_champion(self, name: str):
        """(Spark PipelineModel, model version) of the champion, or None."""
        version = self.version_by_alias(name)
        if version is None:
            return None
        return self.load_model(version), version

    def load_model(self, version):
        """The Spark model of a registered version (an MLflow ``ModelVersion``): the one
        this process registered or loaded before, or loaded from MLflow."""
        import mlflow.spark

        key = _model_key(version.name, version.version, version.run_id)
        model = _recall(key)
        if model is None:
            # By number, not alias: the alias may move while this job runs.
            model = mlflow.spark.load_model(f"models:/{version.name}/{version.version}")
            _remember(key, model)
        return model

    # ---- writing ---------------------------------------------------------------
    def log(
        self,
        entry: Entry,
        values: tuple,
        trained: Trained,
        example,
        lineage: dict,
        job_run_id: str,
    ) -> Registered:
        """Log the run (params, metrics, figures, model with signature and input
        example), register a version and set its alias. ``example``: a few input rows
        (a Spark frame) for the signature."""
        import mlflow.spark
        import pyspark
        from mlflow.models import Model, infer_signature

        name = registered_name(self.prefix, entry, values)
        partition = partition_label(entry, values)
        output = churn.OUTPUT if entry.kind == "churn" else segmentation.OUTPUT
        # The example rows and their output in one Spark job (and so the same rows).
        sample = trained.model.transform(example).select(*trained.input_columns, output).toPandas()
        inputs = sample[trained.input_columns]
        # Integers as doubles in the signature: a missing value in scoring data is
        # imputed by the model, so the schema must allow it.
        inputs = inputs.astype({c: "float64" for c in inputs.select_dtypes("integer").columns})
        signature = infer_signature(inputs, sample[output])
        tags = _tags(entry, partition, job_run_id, lineage)
        failed = gate_failures(entry, trained.metrics)
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=name, tags=tags) as run:
            mlflow.log_params({k: _param(v) for k, v in trained.params.items()})
            mlflow.log_metrics({k: v for k, v in trained.metrics.items() if _finite(v)})
            mlflow.log_metrics({f"rows_{k}": float(v) for k, v in trained.rows.items()})
            mlflow.log_dict(trained.curves, "curves.json")
            if trained.importances:
                mlflow.log_dict(trained.importances, "importances.json")
                mlflow.log_figure(plots.importances(trained.importances, name), "importances.png")
            if "reliability" in trained.curves:
                mlflow.log_figure(
                    plots.reliability(trained.curves["reliability"], name), "reliability.png"
                )
            for key, value in trained.extra.items():
                mlflow.log_dict(value, f"{key}.json")
            if "profiles" in trained.extra:
                mlflow.log_figure(
                    plots.segment_sizes(trained.extra["profiles"], name), "segments.png"
                )
            mlflow.set_tag("fanbase.gates", "passed" if not failed else "; ".join(failed))
            # Model.log rather than mlflow.spark.log_model, which cannot turn off the
            # check that reloads the saved model to score its input example (a second
            # each); the example is still saved with the model.
            info = Model.log(
                None,  # artifact_path, deprecated for name
                name="model",
                flavor=mlflow.spark,
                spark_model=trained.model,
                signature=signature,
                input_example=inputs.head(3),
                pip_requirements=[f"pyspark=={pyspark.__version__}"],
                validate_serving_input=False,
            )
            run_id = run.info.run_id
        return self._register(name, entry, partition, info.model_uri, run_id, failed, trained.model)

    def log_survival(
        self, entry: Entry, values: tuple, result: dict, card: dict, lineage: dict, job_run_id: str
    ) -> Registered:
        """Log one partition's survival fit: parameters, metrics (concordance, AIC,
        counts, log-rank p-values), the full result and a Kaplan-Meier figure, and the
        model card as a pyfunc model; register it and set its alias by the gates."""
        import tempfile
        from pathlib import Path

        from fanbase.models.survival_pyfunc import CARD, SurvivalModel

        name = registered_name(self.prefix, entry, values)
        partition = partition_label(entry, values)
        metrics = survival_metrics(result)
        failed = gate_failures(entry, metrics)
        tags = _tags(entry, partition, job_run_id, lineage)
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=name, tags=tags) as run:
            mlflow.log_params(
                {
                    "algorithm": entry.algorithm.name,
                    "covariates": _param(card["covariates"]),
                    "strata": _param(card["strata_columns"]),
                    **{
                        k: _param(v)
                        for k, v in (entry.survival.model_dump() if entry.survival else {}).items()
                    },
                }
            )
            mlflow.log_metrics({k: v for k, v in metrics.items() if _finite(v)})
            mlflow.log_dict({k: v for k, v in result.items() if k != "strata"}, "result.json")
            if result.get("curves"):
                mlflow.log_figure(plots.survival_curves(result["curves"], name), "survival.png")
            mlflow.set_tag("fanbase.gates", "passed" if not failed else "; ".join(failed))
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model_card.json"
                path.write_text(json.dumps(card))
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=SurvivalModel(),
                    artifacts={CARD: str(path)},
                    pip_requirements=[f"mlflow=={mlflow.__version__}", "numpy", "pandas"],
                )
            run_id = run.info.run_id
        return self._register(name, entry, partition, info.model_uri, run_id, failed)

    def log_attribution(
        self,
        entry: Entry,
        params: dict,
        lineage: dict,
        job_run_id: str,
        metrics: dict[str, float],
        model=None,
    ) -> Registered | str:
        """Log an attribution run. With ``model`` (the lift entry's Spark baseline GLM)
        it is logged and registered, alias by the gates, and a ``Registered`` comes
        back; touch credits are rules, not a fitted model: only the run id."""
        import mlflow.spark
        import pyspark

        name = registered_name(self.prefix, entry, ())
        failed = gate_failures(entry, metrics)
        tags = _tags(entry, "", job_run_id, lineage)
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=name, tags=tags) as run:
            mlflow.log_params({k: _param(v) for k, v in params.items()})
            mlflow.log_metrics({k: v for k, v in metrics.items() if _finite(v)})
            mlflow.set_tag("fanbase.gates", "passed" if not failed else "; ".join(failed))
            run_id = run.info.run_id
            if model is None:
                return run_id
            info = mlflow.spark.log_model(
                model,
                artifact_path="model",
                pip_requirements=[f"pyspark=={pyspark.__version__}"],
            )
        return self._register(name, entry, "", info.model_uri, run_id, failed, model)

    def log_language_model(
        self, entry: Entry, fitted, lineage: dict, job_run_id: str
    ) -> Registered:
        """Log one language's text pipeline (sentiment or topics: Spark NLP stages and
        Spark ML) with its metrics and JSON artifacts; register it as
        ``<prefix>_<entry>_<language>`` and set its alias by the gates."""
        import mlflow.spark
        import pyspark
        import sparknlp

        values = (fitted.language,)
        name = registered_name(self.prefix, entry, values)
        partition = f"language={fitted.language}"
        failed = gate_failures(entry, fitted.metrics)
        tags = _tags(entry, partition, job_run_id, lineage)
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=name, tags=tags) as run:
            mlflow.log_params({k: _param(v) for k, v in fitted.params.items()})
            mlflow.log_metrics({k: v for k, v in fitted.metrics.items() if _finite(v)})
            for key, value in fitted.extra.items():
                mlflow.log_dict(value, f"{key}.json")
            mlflow.set_tag("fanbase.gates", "passed" if not failed else "; ".join(failed))
            info = mlflow.spark.log_model(
                fitted.model,
                artifact_path="model",
                pip_requirements=[
                    f"pyspark=={pyspark.__version__}",
                    f"spark-nlp=={sparknlp.version()}",
                ],
            )
            run_id = run.info.run_id
        return self._register(name, entry, partition, info.model_uri, run_id, failed, fitted.model)

    def add_to_run(self, run_id: str, metrics: dict[str, float], artifacts: dict) -> None:
        """Metrics and JSON artifacts computed after the run was logged."""
        with mlflow.start_run(run_id=run_id):
            mlflow.log_metrics({k: v for k, v in metrics.items() if _finite(v)})
            for key, value in artifacts.items():
                mlflow.log_dict(value, f"{key}.json")

    def _register(
        self, name, entry, partition, model_uri, run_id, failed, spark_model=None
    ) -> Registered:
        """Register ``model_uri`` as a new version of ``name`` and set its alias by the
        gates; ``spark_model``, the fitted model itself, is kept for this process."""
        alias = CHALLENGER if failed else CHAMPION
        with _REGISTRY_LOCK:
            try:
                self.client.create_registered_model(name, description=entry.description)
            except MlflowException as err:
                if err.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            version = self.client.create_model_version(
                name, model_uri, run_id=run_id, tags={"fanbase.partition": partition}
            )
            self.client.set_registered_model_alias(name, alias, version.version)
            self.client.set_model_version_tag(
                name,
                version.version,
                "fanbase.gates",
                "passed" if not failed else "; ".join(failed),
            )
        if spark_model is not None:
            _remember(_model_key(name, version.version, run_id), spark_model)
        return Registered(name, int(version.version), alias, run_id, failed)


def survival_metrics(result: dict) -> dict[str, float]:
    metrics = {
        "concordance": result.get("concordance"),
        "aic_partial": result.get("aic_partial"),
        "rows": result["rows"],
        "subjects": result["subjects"],
        "events": result["events"],
    }
    for name, aic in ((result.get("parametric") or {}).get("aic") or {}).items():
        metrics[f"aic_{name}"] = aic
    for test in result.get("logrank") or []:
        metrics[f"logrank_p_{test['group_column']}"] = test["p_value"]
    return {k: float(v) for k, v in metrics.items() if v is not None}


def _tags(entry: Entry, partition: str, job_run_id: str, lineage: dict) -> dict[str, str]:
    return {
        "fanbase.entry": entry.name,
        "fanbase.kind": entry.kind,
        "fanbase.partition": partition,
        "fanbase.job_run_id": job_run_id,
        "fanbase.code_version": code_version(),
        "fanbase.lineage": json.dumps(lineage, sort_keys=True, default=str),
        "fanbase.data_window": _window(lineage),
        "fanbase.feature_tables": json.dumps(lineage.get("feature_tables", {}), sort_keys=True),
    }


def _window(lineage: dict) -> str:
    if "snapshot" in lineage:
        return f"snapshot {lineage['snapshot']}"
    if "as_of_first" in lineage:
        return f"{lineage['as_of_first']}..{lineage['as_of_last']}"
    return str(lineage.get("source", ""))


def _param(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:500]


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
