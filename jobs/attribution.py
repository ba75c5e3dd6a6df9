"""Content attribution: which fixtures bring new subscribers, per market.

Every active ``kind: attribution`` entry of the catalog writes its rows of
``gold.fixture_attribution`` (one per method, market and fixture) and the roll-ups
``gold.attribution_by_competition`` and ``gold.attribution_by_sport``:

- ``algorithm: touch``: credits from what each new subscription watched first
  (first_watch, last_live, linear, time_decay; ``models/attribution_touch.py``);
- ``algorithm: poisson_lift``: signups above an hourly Poisson baseline (Spark ML GLM)
  in each fixture's window, overlapping windows sharing the excess, with an interval
  (``models/attribution_lift.py``). The baseline is logged and registered in MLflow.

Both add retention at 30 and 90 days and the expected value of the subscribers
(``models/attribution_output.py``). Silver tables are read at the versions current when
the job starts, and signups up to the feature store's snapshot (else the day after the
newest playback). Idempotent: a rerun replaces the entry's rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from fanbase.jobs._runner import JobContext, main_for

NAME = "attribution"
HELP = "content attribution: touch credits and signup lift per fixture and market"
SILVER = ("subscriptions", "playback_sessions", "fixtures", "markets", "events")
# The MLflow metric with an entry's wall time in the job, from its inputs to its rows
# written (ops.job_runs has only the whole job's).
ENTRY_SECONDS = "entry_seconds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", action="append", default=[], metavar="NAME", help="only this entry"
    )


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    from fanbase.jobs.train import load_entries, selected
    from fanbase.models import attribution_output as out
    from fanbase.models.registry import Registry

    entries = [e for e in selected(load_entries(ctx.config), args.model) if e.kind == "attribution"]
    lake = ctx.lakehouse
    for table, schema, comment in (
        (out.FIXTURE_ATTRIBUTION, out.FIXTURE_SCHEMA, "Signups attributed to fixtures per market"),
        (out.BY_COMPETITION, out.COMPETITION_SCHEMA, "Fixture attribution per competition"),
        (out.BY_SPORT, out.SPORT_SCHEMA, "Fixture attribution per sport"),
    ):
        lake.create(table, schema, comment=comment, replace_if_changed=True)
    if not entries:
        ctx.log.warning("no active attribution entries in the catalog")
        return {"models": 0, "rows_out": 0}
    registry = Registry(ctx.configure_mlflow(), ctx.config.models.registry_prefix)
    data = Inputs.load(ctx)
    summary = {
        "models": 0,
        "rows_out": 0,
        "snapshot": str(data.snapshot),
        "input_tables": {f"silver.{k}": v for k, v in data.versions.items()},
    }
    for entry in entries:
        rows = fit_entry(ctx, registry, entry, data)
        summary["models"] += 1
        summary["rows_out"] += rows
    data.release()
    summary["rows_in"] = data.new_count
    return summary


class Inputs:
    """The silver tables at pinned versions and the snapshot, shared by the entries."""

    def __init__(self, ctx: JobContext, versions: dict[str, int], snapshot: dt.date):
        lake = ctx.lakehouse
        self.versions = versions
        self.tables = {name: lake.read(f"silver.{name}", v) for name, v in versions.items()}
        self.snapshot = snapshot
        self.ctx = ctx
        self._cached = []
        self.new_count = 0

    @classmethod
    def load(cls, ctx: JobContext) -> Inputs:
        from pyspark.sql import functions as F

        from fanbase.featurestore import FeatureStore

        lake = ctx.lakehouse
        versions = {name: lake.version(f"silver.{name}") for name in SILVER}
        build = FeatureStore(lake, ctx.config.features).last_build()
        if build and build.get("last_as_of"):
            snapshot = build["last_as_of"]
        else:
            last = (
                lake.read("silver.playback_sessions", versions["playback_sessions"])
                .agg(F.max("event_date"))
                .first()[0]
            )
            if last is None:
                raise RuntimeError("silver.playback_sessions is empty: run `fanbase ingest` first")
            snapshot = last + dt.timedelta(days=1)
        return cls(ctx, versions, snapshot)

    def cache(self, df):
        df = df.persist()
        self._cached.append(df)
        return df

    def release(self) -> None:
        for df in self._cached:
            df.unpersist()

    def new_subscriptions(self, first_spells_only: bool):
        from pyspark.sql import functions as F

        from fanbase.models.attribution_touch import new_subscriptions

        new = self.cache(
            new_subscriptions(self.tables["subscriptions"], self.snapshot, first_spells_only)
        )
        row = new.agg(F.count("*"), F.min(F.to_date("started_at"))).first()
        self.new_count = row[0]
        if not row[0]:
            raise RuntimeError(
                f"no new subscriptions before {self.snapshot} in silver.subscriptions"
            )
        return new, row[1]

    def remaining_value(self, value_model: str | None):
        """((subscription_id, lifetime_value) at the value model's newest snapshot, and
        its lineage key and Delta version), or (None, None): expected values are null."""
        from pyspark.sql import functions as F

        from fanbase.models.survival_fit import CUSTOMER_VALUE

        lake, log = self.ctx.lakehouse, self.ctx.log
        if value_model is None:
            return None, None
        if not lake.exists(CUSTOMER_VALUE):
            log.warning("no %s: run `fanbase survival` for expected values", CUSTOMER_VALUE)
            return None, None
        version = lake.version(CUSTOMER_VALUE)
        rows = lake.read(CUSTOMER_VALUE, version).where(F.col("model") == value_model)
        newest = rows.agg(F.max("as_of_date")).first()[0]
        if newest is None:
            log.warning(
                "%s has no rows of model %s: expected values are null", CUSTOMER_VALUE, value_model
            )
            return None, None
        current = rows.where(F.col("as_of_date") == F.lit(newest))
        key = f"{CUSTOMER_VALUE}[{value_model}@{newest}]"
        return current.select("subscription_id", "lifetime_value"), (key, version)


def fit_entry(ctx: JobContext, registry, entry, data: Inputs) -> int:
    """Fit one entry and write its gold rows; its MLflow run gets the rows' totals and
    the entry's wall time (``entry_seconds``). Returns the rows written."""
    from pyspark.sql import functions as F

    from fanbase.models import attribution_output as out
    from fanbase.models.catalog import AttributionOptions

    if entry.attribution is None:
        entry = entry.model_copy(update={"attribution": AttributionOptions()})
    started = time.perf_counter()
    opts = entry.attribution
    t, lake = data.tables, ctx.lakehouse
    new, first_day = data.new_subscriptions(opts.first_spells_only)
    payments = t["events"].where(F.col("event_type") == "payment")
    remaining, value_table = data.remaining_value(opts.value_model)
    outcomes = data.cache(
        out.subscriber_outcomes(new, payments, remaining, data.snapshot, ctx.config.value.margin)
    )
    input_tables = {f"silver.{k}": v for k, v in data.versions.items()}
    if value_table is not None:
        input_tables[value_table[0]] = value_table[1]
    lineage = {"snapshot": str(data.snapshot), "input_tables": input_tables}
    params = {"algorithm": entry.algorithm.name, **_flat(opts.model_dump())}
    fit = fit_touch if entry.algorithm.name == "touch" else fit_lift
    rows, run_id, registered, version = fit(
        ctx, registry, entry, data, new, first_day, outcomes, (params, lineage)
    )
    currencies = t["markets"].select("market", "currency")
    columns = {
        "model": entry.name,
        "registered_model": registered,
        "model_version": version,
        "mlflow_run_id": run_id,
        "snapshot_date": data.snapshot,
        "input_tables": json.dumps(input_tables, sort_keys=True),
        "run_id": ctx.run_id,
    }
    final = out.finish(rows, t["fixtures"], currencies, columns)
    where = f"model = '{entry.name}'"
    lake.replace_where(out.FIXTURE_ATTRIBUTION, final, where)
    written = lake.read(out.FIXTURE_ATTRIBUTION).where(where)
    for table, level, schema in (
        (out.BY_COMPETITION, ["sport", "competition"], out.COMPETITION_SCHEMA),
        (out.BY_SPORT, ["sport"], out.SPORT_SCHEMA),
    ):
        lake.replace_where(table, out.rollup(written, level, schema), where)
    top = _top(written, 20)
    rows = written.count()
    seconds = time.perf_counter() - started
    metrics = {**_totals(written), ENTRY_SECONDS: seconds}
    registry.add_to_run(run_id, metrics, {"top_fixtures": top})
    print(format_top(entry, top, 5))
    ctx.log.info("%s: %d rows in %.1f s", entry.name, rows, seconds)
    return rows


def fit_touch(ctx, registry, entry, data, new, first_day, outcomes, logged):
    """Touch credits per method; an MLflow run with coverage (rules: nothing to register)."""
    from pyspark.sql import functions as F

    from fanbase.models import attribution_lift as lift
    from fanbase.models import attribution_output as out
    from fanbase.models import attribution_touch as touch

    opts, t = entry.attribution, data.tables
    live = lift.window_hours(
        t["fixtures"],
        t["markets"],
        0,
        int(opts.touch.last_live_hours * 60),
        first_day,
        data.snapshot,
    ).select(
        "market",
        "hour_start",
        "fixture_id",
        "kickoff",
        F.col("window_start").alias("live_start"),
        F.col("window_end").alias("live_end"),
    )
    credits = data.cache(
        touch.touch_credits(new, t["playback_sessions"], live, opts.methods, opts.touch)
    )
    run_id = registry.log_attribution(entry, *logged, ctx.run_id, metrics=_coverage(credits, new))
    return out.touch_rows(credits, outcomes), run_id, None, None


def fit_lift(ctx, registry, entry, data, new, first_day, outcomes, logged):
    """Lift per (fixture, market) window against the backfitted baseline, which is
    logged and registered."""
    from fanbase.models import attribution_lift as lift
    from fanbase.models import attribution_output as out
    from fanbase.models import attribution_touch as touch

    started = time.perf_counter()
    opts, t = entry.attribution, data.tables
    markets = t["markets"]
    windows = data.cache(
        lift.window_hours(
            t["fixtures"],
            markets,
            opts.lift.before_minutes,
            opts.lift.after_minutes,
            first_day,
            data.snapshot,
        )
    )
    first = data.cache(touch.first_sessions(new, t["playback_sessions"], opts.touch))
    hourly = lift.hourly_signups(
        ctx.spark,
        new,
        markets,
        ctx.config.markets.timezones,
        first_day,
        data.snapshot,
        opts.lift.per_market_profile,
    )
    marks = data.cache(lift.watch_marks(first, windows))
    shares = data.cache(lift.hour_shares(windows, marks, opts.lift))
    baseline = lift.backfit(lift.fit_baseline(hourly, opts.lift), marks, opts.lift)
    hours = data.cache(baseline.hours)
    parameters = lift.parameters_per_market(markets.count(), opts.lift.per_market_profile)
    fit = {r.market: r.asDict() for r in lift.fit_metrics(hours, parameters).collect()}
    print(format_fit(entry, fit, baseline.spikes))
    metrics = _fit_metrics(fit, baseline.spikes)
    reg = registry.log_attribution(
        entry, *logged, ctx.run_id, metrics=metrics, model=baseline.model
    )
    _record_run(ctx, entry, reg, metrics, sum(m["hours"] for m in fit.values()), started)
    first_watch = touch.session_credits(first, ["first_watch"], 1.0)
    rows = out.lift_rows(
        lift.share_excess(hours, shares, opts.lift),
        lift.window_signups(new, windows),
        out.touch_rows(first_watch, outcomes),
        out.market_rates(outcomes),
    )
    return rows, reg.run_id, reg.name, reg.version


def _record_run(ctx, entry, reg, metrics: dict, rows: int, started: float) -> None:
    """The registered baseline's row in ``ops.model_runs``, like every trained model."""
    from fanbase.models.train import model_run_row, record_model_runs

    seconds = time.perf_counter() - started
    row = model_run_row(ctx.run_id, entry, "", reg.name, reg, metrics, rows, seconds)
    record_model_runs(ctx.lakehouse, ctx.spark, [row])


def _flat(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flat(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def _coverage(credits, new) -> dict[str, float]:
    """Per method: the share of new subscriptions with a fixture to credit (all markets
    as ``touch_coverage``, the gate metric, of the first method)."""
    from pyspark.sql import functions as F

    total = new.count()
    covered = credits.groupBy("method").agg(F.countDistinct("subscription_id").alias("n")).collect()
    metrics = {f"coverage_{r.method}": r.n / total for r in covered}
    metrics["touch_coverage"] = max(metrics.values(), default=0.0)
    metrics["new_subscriptions"] = float(total)
    return metrics


def _fit_metrics(fit: dict, spikes: int) -> dict[str, float]:
    metrics = {"spike_hours": float(spikes)}
    for market, m in fit.items():
        metrics[f"dispersion_{market}"] = m["dispersion"]
        metrics[f"deviance_explained_{market}"] = m["deviance_explained"]
    hours = sum(m["hours"] for m in fit.values())
    # Pooled over markets, weighted by hours: the gate metric.
    metrics["dispersion"] = sum(m["dispersion"] * m["hours"] for m in fit.values()) / hours
    return metrics


def _totals(written) -> dict[str, float]:
    from pyspark.sql import functions as F

    rows = written.groupBy("method", "market").agg(F.sum("attributed_signups").alias("s")).collect()
    return {f"attributed_{r.method}_{r.market}": float(r.s) for r in rows}


def _top(written, n: int) -> list[dict]:
    cols = ["method", "market", "rank", "fixture_id", "competition", "attributed_signups"]
    extra = ["lift_lower", "lift_upper"]
    rows = written.where(f"rank <= {n}").select(*cols, *extra).orderBy("method", "market", "rank")
    return [
        {k: (str(v) if isinstance(v, dt.date) else v) for k, v in r.asDict().items()}
        for r in rows.collect()
    ]


def format_fit(entry, fit: dict, spikes: int) -> str:
    lines = [f"{entry.name}: signup baseline (Poisson GLM), {spikes} spike hours left out"]
    for market in sorted(fit):
        m = fit[market]
        lines.append(
            f"  {market}: {m['hours']} hours, {int(m['signups'])} signups, "
            f"dispersion {m['dispersion']:.2f}, deviance explained {m['deviance_explained']:.2f}"
        )
    return "\n".join(lines)


def format_top(entry, top: list[dict], n: int) -> str:
    lines = []
    for method in sorted({r["method"] for r in top}):
        for market in sorted({r["market"] for r in top if r["method"] == method}):
            best = [
                f"{r['fixture_id']} ({r['attributed_signups']:.1f})"
                for r in top
                if r["method"] == method and r["market"] == market and r["rank"] <= n
            ]
            lines.append(f"{entry.name} {method} {market}: {', '.join(best)}")
    return "\n".join(lines)


if __name__ == "__main__":
    main_for(__name__)
