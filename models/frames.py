"""The rows a catalog entry trains on, with their lineage.

Feature-store entries:

- churn: label rows (who was subscribed at each as-of date, and whether they asked to
  cancel within the horizon) joined point in time to the feature tables they need;
- segmentation: every subscriber's feature rows at the newest as-of date (a snapshot).

Entries with a ``source`` read any table or file and name their label and feature
columns. Either way the result is a ``ModelFrame``: the rows, which columns are
features and which of them are categorical, the time column for the split, and the
table versions read (lineage for MLflow and the output tables).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fanbase.features import training
from fanbase.features.spec import FeatureGroup
from fanbase.featurestore import FeatureStore
from fanbase.models.catalog import Entry, SurvivalOptions

KEYS = ["user_id", "as_of_date"]
# Survival rows carry these spell attributes themselves (not read from the store).
SPELL_COLUMNS = ("market", "plan", "price", "currency", "acquisition_channel", "spell_number")
CATEGORICAL_TYPES = ("string",)


class FrameError(Exception):
    """The data an entry needs is not there (no feature build, no matured label...)."""


@dataclass
class SurvivalFrames:
    """``fit``: counting-process rows (``entry_days``, ``duration_days``, ``event``) with
    the covariates at each row's as-of date. ``value``: the rows customer value is
    scored on (None for a ``source`` entry): spells running at the snapshot with
    ``tenure_days`` and their covariates then (``cohort`` = current), and spells that
    started in the last ``new_subscriber_days`` at tenure 0 with their first covariates
    (``cohort`` = new). ``unknown_start``: spells left out for having no known start."""

    fit: ModelFrame
    value: DataFrame | None
    snapshot: dt.date | None
    unknown_start: DataFrame | None = None


@dataclass
class ModelFrame:
    df: DataFrame
    features: list[str]
    categorical: list[str]
    time_column: str | None
    lineage: dict = field(default_factory=dict)  # table -> version, data window

    def lineage_json(self) -> str:
        return json.dumps(self.lineage, sort_keys=True, default=str)

    def tables_read(self) -> dict[str, int]:
        """The Delta tables this frame read, with their versions: the feature tables
        and silver spells, or the entry's own source table."""
        if "source" in self.lineage:
            return {self.lineage["source"]: self.lineage["version"]}
        tables = dict(self.lineage.get("feature_tables", {}))
        tables.update({k: v for k, v in self.lineage.items() if k.startswith("silver.")})
        return tables


class FrameBuilder:
    """Builds the frames of the catalog's entries from the feature store."""

    def __init__(self, store: FeatureStore):
        self.store = store
        self.lake = store.lake
        self.spark = store.spark
        self.group_of = {f.name: g for g in store.groups for f in g.features}
        self.dtype_of = {f.name: f.dtype for g in store.groups for f in g.features}
        self._build: dict | None = None

    # ---- feature store -------------------------------------------------------
    def last_build(self) -> dict:
        if self._build is None:
            build = self.store.last_build()
            if build is None or build["last_as_of"] is None:
                raise FrameError("the feature store is empty: run `fanbase features` first")
            self._build = build
        return self._build

    def _table_versions(self, groups: list[FeatureGroup]) -> dict[str, int]:
        return {g.table: self.lake.version(g.table) for g in groups}

    def _groups_for(self, columns: list[str]) -> list[FeatureGroup]:
        seen: dict[str, FeatureGroup] = {}
        for c in columns:
            g = self.group_of[c]
            seen.setdefault(g.name, g)
        return list(seen.values())

    def frame(self, entry: Entry) -> ModelFrame:
        if entry.source is not None:
            return self._source_frame(entry)
        if entry.kind == "churn":
            return self.churn_frame(entry)
        if entry.kind == "segmentation":
            return self.snapshot_frame(entry)
        if entry.kind == "survival":
            return self.survival_frames(entry).fit
        raise FrameError(f"model '{entry.name}': kind {entry.kind} is not trained by this job")

    def _columns(self, entry: Entry) -> list[str]:
        """Features, partition columns and any feature the ``where`` filter names."""
        named = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", entry.where or "")
        in_filter = [w for w in named if w in self.group_of]
        return list(dict.fromkeys([*entry.features, *entry.partition_by, *in_filter]))

    def _categorical(self, features: list[str]) -> list[str]:
        return [f for f in features if self.dtype_of[f] in CATEGORICAL_TYPES]

    def label_dates(self, entry: Entry) -> list[dt.date]:
        """Every ``label.every_days``-th as-of date, counted back from the newest one
        whose label has matured, so the test period is always the freshest data."""
        build = self.last_build()
        first, data_end = build["first_as_of"], build["last_as_of"]
        newest = data_end - dt.timedelta(days=entry.label.horizon_days)
        if newest < first:
            raise FrameError(
                f"model '{entry.name}': the feature store covers {first}..{data_end}, too "
                f"short for a matured {entry.label.horizon_days}-day label"
            )
        n = (newest - first).days // entry.label.every_days
        return [newest - dt.timedelta(days=k * entry.label.every_days) for k in range(n + 1)]

    def churn_frame(self, entry: Entry, dates: list[dt.date] | None = None) -> ModelFrame:
        """Label rows at ``dates`` (default: ``label_dates``) with their features."""
        build = self.last_build()
        data_end = build["last_as_of"]
        silver = json.loads(build["input_versions"])
        subs = self.lake.read("silver.subscriptions", silver["subscriptions"])
        dates = dates or self.label_dates(entry)
        labels = training.churn_labels(subs, dates, entry.label.horizon_days, data_end).select(
            *KEYS, "subscription_id", "label"
        )
        columns = self._columns(entry)
        groups = self._groups_for(columns)
        versions = self._table_versions(groups)
        # Only feature rows a label can reach: its date or up to `lookback` days before.
        reach = sorted(
            {d - dt.timedelta(days=j) for d in dates for j in range(entry.label.lookback_days + 1)}
        )
        tables = {
            g.table: self.lake.read(g.table, versions[g.table])
            .where(F.col("as_of_date").isin(reach))
            .select(*KEYS, *[c for c in columns if self.group_of[c] is g])
            for g in groups
        }
        df = training.training_set(labels, tables, entry.label.lookback_days)
        return ModelFrame(
            df=_filtered(df, entry),
            features=list(entry.features),
            categorical=self._categorical(entry.features),
            time_column="as_of_date",
            lineage={
                "feature_tables": versions,
                "silver.subscriptions": silver["subscriptions"],
                "as_of_first": str(min(dates)),
                "as_of_last": str(max(dates)),
                "label": entry.label.model_dump(),
            },
        )

    def snapshot_frame(
        self, entry: Entry, extra: tuple[str, ...] = (), at: dt.date | None = None
    ) -> ModelFrame:
        """Subscribers on the newest as-of date (or ``at``). With ``snapshots.count`` > 1,
        each numeric feature is the mean over the snapshots that pass ``where`` (a
        longer, steadier view of behaviour than one window); categories come from the
        newest. ``extra``: more feature columns to carry (scoring uses ``cancel_pending``)."""
        build = self.last_build()
        newest = at or build["last_as_of"]
        if not build["first_as_of"] <= newest <= build["last_as_of"]:
            raise FrameError(
                f"model '{entry.name}': as-of {newest} is outside the feature store "
                f"({build['first_as_of']}..{build['last_as_of']})"
            )
        every = dt.timedelta(days=entry.snapshots.every_days)
        dates = [newest - k * every for k in range(entry.snapshots.count)]
        columns = list(dict.fromkeys([*self._columns(entry), *extra]))
        groups = self._groups_for(columns)
        versions = self._table_versions(groups)
        df = None
        for g in groups:
            part = (
                self.lake.read(g.table, versions[g.table])
                .where(F.col("as_of_date").isin(dates))
                .select(*KEYS, *[c for c in columns if self.group_of[c] is g])
            )
            df = part if df is None else df.join(part, KEYS)
        df = _filtered(df, entry)
        categorical = self._categorical(entry.features)
        if len(dates) > 1:
            current = df.where(F.col("as_of_date") == F.lit(newest)).select("user_id").distinct()
            newest_first = [*entry.partition_by, *categorical, *extra]
            df = (
                df.groupBy("user_id")
                .agg(
                    *[
                        F.avg(F.col(c).cast("double")).alias(c)
                        for c in entry.features
                        if c not in newest_first
                    ],
                    *[F.max_by(c, "as_of_date").alias(c) for c in dict.fromkeys(newest_first)],
                )
                .join(current, "user_id")
                .withColumn("as_of_date", F.lit(newest))
            )
        return ModelFrame(
            df=df,
            features=list(entry.features),
            categorical=categorical,
            time_column=None,
            lineage={
                "feature_tables": versions,
                "snapshot": str(newest),
                "snapshot_dates": [str(d) for d in dates],
            },
        )

    def survival_frames(self, entry: Entry, new_subscriber_days: int = 90) -> SurvivalFrames:
        if entry.source is not None:
            return SurvivalFrames(fit=self._source_frame(entry), value=None, snapshot=None)
        opts = entry.survival or SurvivalOptions()
        build = self.last_build()
        snapshot = build["last_as_of"]
        silver = json.loads(build["input_versions"])
        subs = self.lake.read("silver.subscriptions", silver["subscriptions"])
        episodes = training.survival_episodes(
            subs, snapshot, opts.episode_days, tuple(opts.censor_reasons)
        )
        running = training.survival_set(subs, snapshot, "as_of", snapshot)
        current = running.where(~F.col("left_truncated")).select(
            *training.SPELL_ATTRIBUTES,
            "as_of_date",
            F.col("entry_days").alias("tenure_days"),
            F.lit("current").alias("cohort"),
        )
        since = snapshot - dt.timedelta(days=new_subscriber_days)
        new = episodes.where(
            (F.col("entry_days") == 0) & (F.to_date("spell_started_at") >= F.lit(since))
        ).select(
            *training.SPELL_ATTRIBUTES,
            "as_of_date",
            F.lit(0.0).alias("tenure_days"),
            F.lit("new").alias("cohort"),
        )
        wanted = [*self._columns(entry), *opts.strata, *opts.groups]
        columns = [c for c in dict.fromkeys(wanted) if c not in SPELL_COLUMNS]
        groups = self._groups_for(columns)
        versions = self._table_versions(groups)
        tables = {
            g.table: self.lake.read(g.table, versions[g.table])
            .where(F.col("as_of_date") <= F.lit(snapshot))
            .select(*KEYS, *[c for c in columns if self.group_of[c] is g])
            for g in groups
        }
        lookback = entry.label.lookback_days
        fit = training.training_set(episodes, tables, lookback)
        value = training.training_set(current.unionByName(new), tables, lookback)
        return SurvivalFrames(
            fit=ModelFrame(
                df=_filtered(fit, entry),
                features=list(entry.features),
                categorical=self._categorical(entry.features),
                time_column="as_of_date",
                lineage={
                    "feature_tables": versions,
                    "silver.subscriptions": silver["subscriptions"],
                    "snapshot": str(snapshot),
                    "episode_days": opts.episode_days,
                    "censor_reasons": list(opts.censor_reasons),
                },
            ),
            value=_filtered(value, entry),
            snapshot=snapshot,
            unknown_start=subs.where(F.col("left_truncated")),
        )

    # ---- any table -------------------------------------------------------------
    def _source_frame(self, entry: Entry) -> ModelFrame:
        src = entry.source
        df, where = read_table_source(self.spark, src)
        wanted = [*src.feature_columns, *([src.label_column] if src.label_column else [])]
        survival = [src.duration_column, src.event_column, src.entry_column]
        wanted += [c for c in [src.time_column, *entry.partition_by, *survival] if c]
        missing = [c for c in dict.fromkeys(wanted) if c not in df.columns]
        if missing:
            raise FrameError(
                f"model '{entry.name}': {where} has no column(s) {missing}; it has {df.columns}"
            )
        if src.label_column:
            df = df.withColumn("label", F.col(src.label_column).cast("int"))
        if src.duration_column:
            entry_days = F.col(src.entry_column) if src.entry_column else F.lit(0.0)
            df = df.withColumns(
                {
                    "duration_days": F.col(src.duration_column).cast("double"),
                    "event": F.col(src.event_column).cast("int"),
                    "entry_days": entry_days.cast("double"),
                }
            )
        strings = {f.name for f in df.schema.fields if f.dataType.typeName() == "string"}
        categorical = list(
            dict.fromkeys(
                [*src.categorical_columns, *[c for c in src.feature_columns if c in strings]]
            )
        )
        return ModelFrame(
            df=_filtered(df, entry),
            features=list(src.feature_columns),
            categorical=categorical,
            time_column=src.time_column,
            lineage={"source": where, "version": self._source_version(src)},
        )

    def _source_version(self, src) -> int | None:
        if src.format != "delta":
            return None
        try:
            from delta.tables import DeltaTable

            table = (
                DeltaTable.forName(self.spark, src.table)
                if src.table
                else DeltaTable.forPath(self.spark, src.path)
            )
            return int(table.history(1).select("version").first()[0])
        except Exception:  # noqa: BLE001 - lineage is best effort for foreign tables
            return None


def read_table_source(spark, src) -> tuple[DataFrame, str]:
    """An entry's ``source`` table or file, and where it came from (for messages)."""
    if src.table is not None:
        return spark.table(src.table), src.table
    reader = spark.read.format(src.format)
    if src.format == "csv":
        # A CSV has no types: infer them once here rather than read all strings.
        reader = reader.option("header", "true").option("inferSchema", "true")
    return reader.load(src.path), src.path


def filtered(df: DataFrame, entry: Entry) -> DataFrame:
    """The rows the entry's ``where`` keeps."""
    return _filtered(df, entry)


def _filtered(df: DataFrame, entry: Entry) -> DataFrame:
    if not entry.where:
        return df
    from pyspark.errors import AnalysisException, ParseException

    try:
        return df.where(entry.where)
    except (AnalysisException, ParseException) as err:
        first_line = str(err).strip().splitlines()[0]
        raise FrameError(
            f"model '{entry.name}': key 'where': {entry.where!r} does not apply to its rows "
            f"({first_line})"
        ) from None


def partition_values(frame: ModelFrame, entry: Entry) -> list[tuple]:
    """The distinct values of the entry's partition columns (one model each)."""
    if not entry.partition_by:
        return [()]
    rows = frame.df.select(*entry.partition_by).distinct().orderBy(*entry.partition_by).collect()
    return [tuple(r) for r in rows]


def partition_rows(frame: ModelFrame, entry: Entry, values: tuple) -> DataFrame:
    df = frame.df
    for column, value in zip(entry.partition_by, values, strict=True):
        df = df.where(F.col(column).isNull() if value is None else F.col(column) == value)
    return df
