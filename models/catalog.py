"""The model catalog: models analysts declare in YAML, validated when it loads.

The catalog files are listed in ``conf/models/catalog.yml`` (``files:``), so nothing is
found by globbing. Each file holds ``models:``, a list of entries; an entry names its
kind (a whitelist: churn, segmentation, survival, attribution, sentiment, topics),
its rows
(the feature store, or any table or file with the label and feature columns named),
its features (groups, ``group.feature`` or feature names), label, partitioning,
algorithm and search grid, time-based split, promotion gates and output table.

A mistake is one ``CatalogError`` naming the file, the entry and the key, with the
allowed values or the nearest known name. This module only turns YAML into
validated, resolved entries; ``models/train.py`` and ``jobs/survival.py`` fit them.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fanbase.config import ConfigError

KINDS = ("churn", "segmentation", "survival", "attribution", "sentiment", "topics")

# Algorithms each kind may use, and the metrics its promotion gates may name.
ALGORITHMS = {
    "churn": ("logistic_regression", "gbt", "random_forest"),
    "segmentation": ("kmeans", "bisecting_kmeans", "gaussian_mixture"),
    # AFT models (weibull_aft, log_logistic_aft) are fitted beside every Cox model and
    # compared by AIC: `survival.parametric` names them.
    "survival": ("cox", "kaplan_meier"),
    "attribution": ("touch", "poisson_lift"),
    "sentiment": ("naive_bayes", "logistic_regression"),
    "topics": ("lda",),
}
METRICS = {
    "churn": ("roc_auc", "pr_auc", "brier", "top_decile_lift"),
    "segmentation": ("silhouette",),
    "survival": ("concordance",),
    # Pearson dispersion of the signup baseline (1 = Poisson; higher: intervals too
    # narrow); touch coverage: the share of new subscribers with a fixture to credit.
    "attribution": ("dispersion", "touch_coverage"),
    "sentiment": ("accuracy", "macro_f1"),
    # LDA's log perplexity on held-out posts (per term; lower is better).
    "topics": ("log_perplexity",),
}
# Spark ML parameters a search grid may name, per algorithm (kinds trained elsewhere
# check their own).
GRID_PARAMS = {
    "logistic_regression": ("regParam", "elasticNetParam", "maxIter"),
    "naive_bayes": ("smoothing",),
    "gbt": ("maxDepth", "maxIter", "stepSize", "subsamplingRate", "minInstancesPerNode"),
    "random_forest": ("maxDepth", "numTrees", "subsamplingRate", "minInstancesPerNode"),
    "kmeans": ("k", "maxIter", "initSteps"),
    "bisecting_kmeans": ("k", "maxIter", "minDivisibleClusterSize"),
    "gaussian_mixture": ("k", "maxIter", "tol"),
}
# Metrics where lower is better: their gate is a maximum.
LOWER_IS_BETTER = {"brier", "dispersion", "log_perplexity"}
CATALOG_INDEX = "catalog.yml"


class CatalogError(ConfigError):
    """A catalog mistake, worded for the analyst who made it (a config error: jobs
    exit with the config-error code and print it as one line)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableSource(_Strict):
    """Rows from any table instead of the feature store."""

    table: str | None = None  # a catalog name, e.g. analytics.my_set
    path: str | None = None  # a Delta folder, a Parquet or CSV file or folder
    format: Literal["delta", "parquet", "csv"] = "delta"
    label_column: str | None = None
    # Sentiment and topic entries read text (and, optionally, its ISO 639-1 language;
    # without one every row is in the entry's first language) instead of features.
    text_column: str | None = None
    language_column: str | None = None
    feature_columns: list[str] = Field(default_factory=list)
    categorical_columns: list[str] = Field(default_factory=list)
    time_column: str | None = None  # for the time-based split
    # Survival entries: the tenure at the event or censoring, 1/0 (or true/false) for
    # the event, and optionally the tenure when the row was first observed (late entry).
    duration_column: str | None = None
    event_column: str | None = None
    entry_column: str | None = None

    @model_validator(mode="after")
    def _one_location(self):
        if (self.table is None) == (self.path is None):
            raise ValueError("give exactly one of `table` or `path`")
        unknown = set(self.categorical_columns) - set(self.feature_columns)
        if unknown:
            raise ValueError(f"categorical_columns not in feature_columns: {sorted(unknown)}")
        return self


class LabelSpec(_Strict):
    horizon_days: int = Field(default=30, ge=1)
    every_days: int = Field(default=7, ge=1)  # as-of dates of the training set
    lookback_days: int = Field(default=1, ge=0)  # how stale a feature row may be


class Snapshots(_Strict):
    """Segmentation rows: features averaged over ``count`` as-of dates ``every_days``
    apart, the newest first (4 x 28 days: behaviour over the last 16 weeks)."""

    count: int = Field(default=1, ge=1, le=52)
    every_days: int = Field(default=28, ge=1)


class SurvivalOptions(_Strict):
    """How a survival entry builds its rows and what it fits besides the main model."""

    # Covariates are re-read every this many days of a spell (time-varying covariates).
    episode_days: int = Field(default=7, ge=1, le=365)
    # Cancels with these reasons end the spell without the event (competing risks),
    # e.g. [payment_failed] for the hazard of choosing to leave.
    censor_reasons: list[str] = Field(default_factory=list)
    strata: list[str] = Field(default_factory=list)  # a baseline hazard per value
    groups: list[str] = Field(default_factory=list)  # Kaplan-Meier + log-rank per column
    parametric: list[Literal["weibull_aft", "log_logistic_aft"]] = Field(
        default_factory=lambda: ["weibull_aft", "log_logistic_aft"]
    )
    min_events: int = Field(default=20, ge=1)
    penalizer: float = Field(default=0.0, ge=0)


TOUCH_METHODS = ("first_watch", "last_live", "linear", "time_decay")


class TouchOptions(_Strict):
    """Which fixtures a new subscription watched first, and how credit is spread."""

    # Fixture sessions within this many days of signup are the subscriber's first touches.
    first_days: int = Field(default=7, ge=1, le=90)
    # linear and time_decay spread one signup over at most this many first fixture sessions.
    first_sessions: int = Field(default=5, ge=1, le=50)
    # time_decay: a session this many hours after signup gets half the weight.
    half_life_hours: float = Field(default=24.0, gt=0)
    # last_live: a fixture is live at signup from kickoff until this long after its end.
    last_live_hours: float = Field(default=2.0, ge=0, le=48)


class LiftOptions(_Strict):
    """Signups above an hourly Poisson baseline in each fixture's window."""

    # The window opens this long before kickoff and closes this long after the end.
    before_minutes: int = Field(default=120, ge=0, le=1440)
    after_minutes: int = Field(default=0, ge=0, le=1440)
    # When windows overlap, an hour's excess is shared by the hour's new subscribers who
    # watched each fixture in their first sessions, plus share_prior signups spread
    # over the hour by the part each window covers (the uncovered part: no fixture).
    share_prior: float = Field(default=0.1, gt=0)
    level: float = Field(default=0.95, gt=0.5, lt=1)  # of each lift's interval
    # Hours whose count is less likely than this under the first fit (Poisson upper
    # tail) are spikes: left out of the refit, so big fixtures do not raise their own
    # baseline. 1e-4 flags about one ordinary hour a year per market.
    spike_p: float = Field(default=1e-4, gt=0, lt=0.1)
    # Each market its own weekday and hour-of-day profile (else shared, in local time).
    per_market_profile: bool = False
    # Refits of the baseline on the signups the fixtures do not claim (0: none).
    backfit_rounds: int = Field(default=2, ge=0, le=10)
    ridge: float = Field(default=0.0, ge=0)  # L2 penalty of the GLM (the design is full rank)


class AttributionOptions(_Strict):
    """Content attribution: touch credits and incremental lift per (fixture, market)."""

    methods: list[Literal[TOUCH_METHODS]] = Field(default_factory=lambda: list(TOUCH_METHODS))
    # New subscriptions are first spells only (a win-back is not a new customer).
    first_spells_only: bool = True
    touch: TouchOptions = TouchOptions()
    lift: LiftOptions = LiftOptions()
    # The survival entry whose gold.customer_value prices the attributed subscribers.
    value_model: str | None = "survival_by_market"


LANGUAGES = ("en", "de", "it", "es", "pt", "ja")


class SocialOptions(_Strict):
    """Sentiment and topic models over posts: one Spark NLP pipeline per language."""

    # A pipeline per language listed (tokeniser, stop words and, for Japanese, character
    # segmentation differ); posts in other languages are kept, unscored, with the reason.
    languages: list[Literal[LANGUAGES]] = Field(default_factory=lambda: list(LANGUAGES))
    ngrams: int = Field(default=2, ge=1, le=3)  # terms are 1..ngrams consecutive tokens
    min_df: float = Field(default=2, gt=0)  # a term in fewer documents is dropped
    test_fraction: float = Field(default=0.2, gt=0, lt=0.9)  # held out for the metrics
    min_rows: int = Field(default=50, ge=10)  # fewer rows (labels) in a language: no model
    topics: int = Field(default=8, ge=2, le=100)  # topics entries: LDA's k
    top_terms: int = Field(default=10, ge=1, le=50)
    max_iter: int = Field(default=30, ge=1, le=500)


class Algorithm(_Strict):
    name: str
    # Spark ML parameter name -> values to search; one model per combination.
    grid: dict[str, list] = Field(default_factory=dict)
    # Segmentation: fits per grid point from different seeds, the best silhouette kept
    # (k-means from one start can settle in a poor local optimum and so miss the best k).
    restarts: int = Field(default=1, ge=1, le=10)


class Split(_Strict):
    # Train on earlier as-of dates, test on the last `test_days` of them.
    test_days: int = Field(default=56, ge=1)


class Gate(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self):
        if self.min is None and self.max is None:
            raise ValueError("a gate needs `min` or `max`")
        return self


# The kinds `fanbase monitor` evaluates, and the metric whose decay it follows.
MONITORED = {
    "churn": "roc_auc",
    "segmentation": "silhouette",
    "sentiment": "accuracy",
    "survival": "concordance",  # Cox entries; Kaplan-Meier ones have no risk score
}


class MonitorOptions(_Strict):
    """When `fanbase monitor` flags a model (churn, segmentation, sentiment, survival)."""

    # Drift: the largest feature PSI, training rows against the newest scoring rows
    # (segmentation: also of segment shares; sentiment: of predicted class shares;
    # survival: fitted spells against the subscribers it values).
    max_psi: float = Field(default=0.25, gt=0)
    # Decay: how far the tracked metric (roc_auc, silhouette, accuracy, concordance) may fall below
    # the model's own test value, on the newest labelled rows or matured scores.
    max_decay: float = Field(default=0.05, gt=0)
    # retrain: the next `fanbase run` retrains a flagged model; alert: only report it.
    action: Literal["retrain", "alert"] = "retrain"
    # Fewer rows in a window: its metrics are not computed (and cannot flag the model).
    min_rows: int = Field(default=200, ge=10)


class Entry(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: str
    active: bool = True
    description: str = ""
    source: TableSource | None = None  # None: the feature store
    features: list[str] = Field(default_factory=list)
    label: LabelSpec = LabelSpec()
    partition_by: list[str] = Field(default_factory=list)
    where: str | None = None  # a SQL filter on the rows, e.g. "watch_hours_28d > 0"
    snapshots: Snapshots = Snapshots()
    survival: SurvivalOptions | None = None  # kind survival only
    attribution: AttributionOptions | None = None  # kind attribution only
    social: SocialOptions | None = None  # kinds sentiment and topics only
    algorithm: Algorithm
    split: Split = Split()
    gates: dict[str, Gate] = Field(default_factory=dict)
    monitor: MonitorOptions = MonitorOptions()
    output: str = Field(pattern=r"^[a-z_]+\.[a-z0-9_]+$")

    def digest(self) -> str:
        """A short hash of the whole definition: a changed entry is due for training."""
        import hashlib

        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class CatalogFile(_Strict):
    models: list[Entry] = Field(min_length=1)


def load_catalog(conf_dir: Path | Traversable, known_features: dict[str, list[str]]) -> list:
    """Every entry of the files ``conf/models/catalog.yml`` lists, validated and with
    its features resolved to feature names. ``known_features``: group -> features."""
    return load_catalog_folder(conf_dir / "models", known_features)


def load_catalog_folder(models_dir: Path | Traversable, known_features: dict[str, list[str]]):
    """As ``load_catalog``, from a folder holding ``catalog.yml`` itself."""
    index = _read_yaml(models_dir / CATALOG_INDEX)
    files = index.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise CatalogError(f"{models_dir / CATALOG_INDEX}: `files` must list catalog files")
    entries, seen = [], {}
    for name in files:
        path = models_dir / name
        for entry in _load_file(path, known_features):
            if entry.name in seen:
                raise CatalogError(
                    f"{path}: model '{entry.name}' is already declared in {seen[entry.name]}"
                )
            seen[entry.name] = path
            entries.append(entry)
    return entries


def _read_yaml(path) -> dict:
    if not path.is_file():
        raise CatalogError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise CatalogError(f"{path}:{where} is not valid YAML") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top level")
    return data


def _load_file(path, known_features: dict[str, list[str]]) -> list[Entry]:
    data = _read_yaml(path)
    try:
        parsed = CatalogFile.model_validate(data)
    except ValidationError as err:
        raise CatalogError(_explain(path, data, err)) from None
    out = []
    for n, entry in enumerate(parsed.models):
        where = f"{path}: model '{entry.name}' (models[{n}])"
        _check_entry(where, entry, known_features)
        out.append(entry.model_copy(update={"features": _resolve(where, entry, known_features)}))
    return out


def _check_entry(where: str, e: Entry, known: dict[str, list[str]]) -> None:
    if e.kind not in KINDS:
        raise CatalogError(f"{where}: unknown kind '{e.kind}'{suggest(e.kind, KINDS)}")
    algorithms = ALGORITHMS[e.kind]
    if e.algorithm.name not in algorithms:
        raise CatalogError(
            f"{where}: key 'algorithm.name': '{e.algorithm.name}' is not an algorithm for "
            f"kind {e.kind}{suggest(e.algorithm.name, algorithms)}"
        )
    allowed = GRID_PARAMS.get(e.algorithm.name)
    for param, values in e.algorithm.grid.items():
        if allowed is not None and param not in allowed:
            raise CatalogError(
                f"{where}: key 'algorithm.grid.{param}': not a parameter of "
                f"{e.algorithm.name}{suggest(param, allowed)}"
            )
        if not values:
            raise CatalogError(f"{where}: key 'algorithm.grid.{param}': give at least one value")
    for metric, gate in e.gates.items():
        if metric not in METRICS[e.kind]:
            raise CatalogError(
                f"{where}: key 'gates.{metric}': not a metric of kind {e.kind}"
                f"{suggest(metric, METRICS[e.kind])}"
            )
        lower = metric in LOWER_IS_BETTER
        if (gate.max if lower else gate.min) is None:
            raise CatalogError(
                f"{where}: key 'gates.{metric}': {'lower' if lower else 'higher'} is better "
                f"for {metric}, so its gate needs `{'max' if lower else 'min'}`"
            )
    if e.snapshots.count > 1 and e.kind != "segmentation":
        raise CatalogError(
            f"{where}: key 'snapshots': averaging snapshots is for segmentation; kind "
            f"{e.kind} reads features at each label's as-of date"
        )
    if e.survival is not None and e.kind != "survival":
        raise CatalogError(f"{where}: key 'survival': only entries of kind survival take it")
    if e.attribution is not None and e.kind != "attribution":
        raise CatalogError(f"{where}: key 'attribution': only entries of kind attribution take it")
    if e.algorithm.restarts != 1 and e.kind != "segmentation":
        raise CatalogError(f"{where}: key 'algorithm.restarts': only segmentation restarts")
    if "monitor" in e.model_fields_set and e.kind not in MONITORED:
        raise CatalogError(
            f"{where}: key 'monitor': `fanbase monitor` evaluates kinds {sorted(MONITORED)}"
        )
    if "monitor" in e.model_fields_set and e.algorithm.name == "kaplan_meier":
        raise CatalogError(
            f"{where}: key 'monitor': a kaplan_meier entry has no risk score to evaluate "
            "(monitor a cox entry)"
        )
    if e.social is not None and e.kind not in ("sentiment", "topics"):
        raise CatalogError(f"{where}: key 'social': only sentiment and topics entries take it")
    if e.kind in ("sentiment", "topics"):
        for key in ("features", "partition_by"):
            if getattr(e, key):
                raise CatalogError(
                    f"{where}: key '{key}': kind {e.kind} reads text, one model per "
                    f"language; it takes no `{key}`"
                )
        if e.source is not None and not e.source.text_column:
            raise CatalogError(f"{where}: key 'source.text_column': kind {e.kind} reads text")
    elif e.source is not None and not e.source.feature_columns:
        raise CatalogError(f"{where}: key 'source.feature_columns': name the feature columns")
    if e.kind == "attribution":
        for key in ("source", "features", "partition_by", "where"):
            if getattr(e, key):
                raise CatalogError(
                    f"{where}: key '{key}': attribution reads the silver subscriptions, "
                    "playback and fixtures, per market; it takes no "
                    f"`{key}`"
                )
    if e.kind == "survival" and e.source is not None:
        if not (e.source.duration_column and e.source.event_column):
            raise CatalogError(
                f"{where}: key 'source': a survival entry names `duration_column` and "
                "`event_column`"
            )
    if e.source is not None:
        if e.features:
            raise CatalogError(
                f"{where}: key 'features': an entry with a `source` names its columns in "
                "`source.feature_columns`"
            )
        if e.kind in ("churn", "sentiment") and not e.source.label_column:
            raise CatalogError(f"{where}: key 'source.label_column': kind {e.kind} needs a label")
        bad = set(e.partition_by) - set(e.source.feature_columns) - {e.source.time_column}
        if bad:
            raise CatalogError(
                f"{where}: key 'partition_by': {sorted(bad)} are not columns of the source"
            )
        if e.survival is not None:
            for key in ("strata", "groups"):
                bad = set(getattr(e.survival, key)) - set(e.source.feature_columns)
                if bad:
                    raise CatalogError(
                        f"{where}: key 'survival.{key}': {sorted(bad)} are not in "
                        "source.feature_columns"
                    )
    elif (e.kind in ("churn", "segmentation") or e.algorithm.name == "cox") and not e.features:
        raise CatalogError(f"{where}: key 'features': name feature groups or features")


def _resolve(where: str, e: Entry, known: dict[str, list[str]]) -> list[str]:
    """Group names, ``group.feature`` and bare feature names to feature names."""
    by_name = {f: g for g, fs in known.items() for f in fs}
    out: list[str] = []
    for item in e.features:
        if item in known:
            names = known[item]
        elif "." in item:
            group, _, feature = item.partition(".")
            if group not in known:
                raise CatalogError(
                    f"{where}: key 'features': unknown feature group '{group}'"
                    f"{suggest(group, known)}"
                )
            if feature not in known[group]:
                raise CatalogError(
                    f"{where}: key 'features': group {group} has no feature '{feature}'"
                    f"{suggest(feature, known[group])}"
                )
            names = [feature]
        elif item in by_name:
            names = [item]
        else:
            raise CatalogError(
                f"{where}: key 'features': unknown feature or group '{item}'"
                f"{suggest(item, [*known, *by_name])}"
            )
        out += [n for n in names if n not in out]
    named = [("partition_by", c) for c in e.partition_by]
    if e.survival is not None:
        for key in ("strata", "groups"):
            named += [(f"survival.{key}", c) for c in getattr(e.survival, key)]
    for key, column in named:
        if e.source is None and column not in by_name:
            raise CatalogError(
                f"{where}: key '{key}': '{column}' is not a feature{suggest(column, by_name)}"
            )
    return out


def suggest(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; expected one of: {', '.join(choices)}" if len(choices) <= 12 else ""


def _explain(path, data: dict, err: ValidationError) -> str:
    lines = []
    for issue in err.errors():
        loc = [str(p) for p in issue["loc"]]
        where = str(path)
        if len(loc) >= 2 and loc[0] == "models" and loc[1].isdigit():
            models = data.get("models") or []
            n = int(loc[1])
            name = (
                models[n].get("name") if n < len(models) and isinstance(models[n], dict) else None
            )
            where += f": model '{name}' (models[{n}])" if name else f": models[{n}]"
            loc = loc[2:]
        key = ".".join(loc)
        if issue["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{key}'")
        elif issue["type"] == "missing":
            lines.append(f"{where}: missing key '{key}'")
        else:
            lines.append(f"{where}: key '{key}': {issue['msg']} (got {issue.get('input')!r})")
    return "; ".join(lines)
