"""Customer value scored in Spark SQL from ``gold.survival_models``, without lifelines.

A survival model row holds, per partition and stratum, the coefficients (term,
covariate, level, coef, center, fill_value) and the baseline survival on every day
``S0[d]``. For one subscription at tenure ``t0`` with covariates ``x``:

    lp       = sum(coef * (x - center))   x of a level term = 1 when the row has it
    S(d)     = S0[d] ** exp(lp)           d clipped to the last day of the baseline
    alive(d) = S(d) / S(floor(t0))        survival to d, given survival to now

- ``expected_remaining_days``: the sum of alive(floor(t0) + k) for k = 1..H, the
  restricted mean remaining lifetime over the horizon H (days);
- ``expected_remaining_revenue``: price times the sum of alive(n * period) over the
  billing tenures n * period in (t0, t0 + H] (a new subscriber also pays at signup);
- ``lifetime_value``: the same payments times the margin, each discounted to now at
  the yearly rate for (n * period - t0) / 365 years.

Everything is column expressions and higher-order functions over arrays, so it runs
on executors for any number of subscribers.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType

from fanbase.models.survival import MISSING


def label_column(columns: list[str] | tuple[str, ...]) -> Column:
    """``market=DE`` / ``plan=annual/market=DE`` as a column; '' without columns (the
    same text as ``registry.partition_label`` and ``survival.stratum_label``)."""
    if not columns:
        return F.lit("")
    return F.concat_ws(
        "/",
        *[
            F.concat(F.lit(f"{c}="), F.coalesce(F.col(c).cast("string"), F.lit(MISSING)))
            for c in columns
        ],
    )


def covariate_map(df: DataFrame, columns: list[str], categorical=()) -> Column:
    """The row's covariates as ``map<string, string>``, so one SQL expression can read
    any model's covariates by name. Booleans are 1/0 as numbers, and true/false as
    category levels (the text ``survival.encode`` gives them)."""
    kinds = {f.name: f.dataType for f in df.schema.fields}
    pairs = []
    for c in columns:
        value = F.col(c)
        if isinstance(kinds[c], BooleanType) and c not in categorical:
            value = value.cast("int")
        pairs += [F.lit(c), value.cast("string")]
    return F.create_map(*pairs) if pairs else F.create_map().cast("map<string,string>")


def linear_predictor(coefficients: Column, values: Column) -> Column:
    def term(acc, c):
        raw = F.element_at(values, c["covariate"])
        x = F.when(
            c["level"].isNotNull(),
            F.when(F.coalesce(raw, F.lit(MISSING)) == c["level"], 1.0).otherwise(0.0),
        ).otherwise(F.coalesce(raw.cast("double"), c["fill_value"]))
        return acc + c["coef"] * (x - c["center"])

    return F.aggregate(coefficients, F.lit(0.0), term)


def score_value(
    rows: DataFrame,
    models: DataFrame,
    covariates: list[str],
    partition_by: list[str],
    strata: list[str],
    horizon_days: int,
    discount_rate: float,
    margin: float,
    billing_period_days: dict[str, int],
    carry: tuple[str, ...] = (),
    categorical: tuple[str, ...] = (),
) -> DataFrame:
    """``rows``: subscriptions with ``tenure_days``, ``price``, ``plan``, ``cohort`` and
    the covariates; ``models``: ``gold.survival_models`` rows of one entry (status ok),
    whose ``carry`` columns (e.g. lineage) come along. Rows whose partition or stratum
    has no model are dropped by the join; callers count them."""
    horizon = int(horizon_days)
    period = F.lit(30)
    for plan, days in billing_period_days.items():
        period = F.when(F.col("plan") == plan, F.lit(int(days))).otherwise(period)
    keyed = rows.select(
        "*",
        label_column(partition_by).alias("partition"),
        label_column(strata).alias("stratum"),
        covariate_map(rows, covariates, categorical).alias("_x"),
        period.alias("billing_period_days"),
    )
    m = models.select(
        "partition",
        "stratum",
        "coefficients",
        "baseline_survival",
        "last_observed_day",
        *[c for c in carry if c not in ("partition", "stratum")],
    )
    joined = keyed.join(m, ["partition", "stratum"])
    lp = linear_predictor(F.col("coefficients"), F.col("_x"))
    scale = F.exp(F.col("linear_predictor"))
    last = F.size("baseline_survival") - 1

    def surv(day: Column) -> Column:
        at = F.least(day.cast("int"), last) + 1
        return F.pow(F.element_at("baseline_survival", at), scale)

    now = F.floor("tenure_days").cast("int")
    alive_now = surv(now)
    remaining = F.aggregate(
        F.sequence(F.lit(1), F.lit(horizon)),
        F.lit(0.0),
        lambda acc, k: acc + surv(now + k),
    )
    p = F.col("billing_period_days")
    first_n = F.when(F.col("cohort") == "new", F.lit(0)).otherwise(
        F.floor(F.col("tenure_days") / p).cast("int") + 1
    )
    last_n = F.floor((F.col("tenure_days") + horizon) / p).cast("int")
    bills = F.when(first_n <= last_n, F.sequence(first_n, last_n)).otherwise(
        F.array().cast("array<int>")
    )
    revenue = F.aggregate(bills, F.lit(0.0), lambda acc, n: acc + surv(n * p))
    discounted = F.aggregate(
        bills,
        F.lit(0.0),
        lambda acc, n: (
            acc
            + surv(n * p)
            / F.pow(F.lit(1.0 + discount_rate), (n * p - F.col("tenure_days")) / 365.0)
        ),
    )
    return (
        joined.withColumn("linear_predictor", lp)
        .withColumn("_alive_now", alive_now)
        .select(
            *[c for c in joined.columns if c not in ("coefficients", "baseline_survival", "_x")],
            "linear_predictor",
            (remaining / F.col("_alive_now")).alias("expected_remaining_days"),
            (F.col("price") * revenue / F.col("_alive_now")).alias("expected_remaining_revenue"),
            (F.lit(margin) * F.col("price") * discounted / F.col("_alive_now")).alias(
                "lifetime_value"
            ),
            (F.col("tenure_days") + horizon > F.col("last_observed_day")).alias("extrapolated"),
        )
        .drop("last_observed_day")
    )
