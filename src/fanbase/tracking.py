"""MLflow set-up from config: a local SQLite store by default, nothing to start."""

from __future__ import annotations

import logging
from pathlib import Path

from fanbase.config import MlflowSettings

log = logging.getLogger(__name__)


def configure_mlflow(settings: MlflowSettings) -> str:
    """Point MLflow at the configured stores and return the experiment id."""
    import mlflow

    _ensure_sqlite_folder(settings.tracking_uri)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri or settings.tracking_uri)
    experiment = mlflow.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        experiment_id = experiment.experiment_id
    else:
        experiment_id = mlflow.create_experiment(
            settings.experiment, artifact_location=_artifact_uri(settings.artifact_root)
        )
    mlflow.set_experiment(experiment_id=experiment_id)
    log.info("mlflow tracking=%s experiment=%s", settings.tracking_uri, settings.experiment)
    return experiment_id


def _ensure_sqlite_folder(uri: str) -> None:
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


def _artifact_uri(root: str) -> str:
    if "://" in root or root.startswith("dbfs:"):
        return root
    path = Path(root).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()
