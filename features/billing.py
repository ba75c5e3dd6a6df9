"""Billing: what a subscriber pays, how long they have paid, and payment trouble."""

from __future__ import annotations

from pydantic import Field
from pyspark.sql import functions as F

from fanbase.features.spec import Aggregate, Feature, FeatureGroup, GroupParams

NAME = "billing"
TABLE = "features.billing"


class Params(GroupParams):
    failed_payment_windows: list[int] = Field(default=[7, 30, 90], min_length=1)
    refund_window_days: int = Field(default=90, ge=1)
    # Days between renewals, per plan; a plan not listed has no days_to_renewal.
    billing_period_days: dict[str, int] = Field(default={"monthly": 30, "annual": 365})


def declare(params: Params) -> FeatureGroup:
    features = [
        Feature("market", "string", "market of the subscription", lambda: F.col("market")),
        Feature("plan", "string", "monthly or annual", lambda: F.col("plan")),
        Feature(
            "price", "double", "price per billing period, local currency", lambda: F.col("price")
        ),
        Feature("currency", "string", "ISO 4217 currency", lambda: F.col("currency")),
        Feature(
            "acquisition_channel",
            "string",
            "channel the subscription came from",
            lambda: F.col("acquisition_channel"),
        ),
        Feature(
            "has_promo",
            "boolean",
            "the subscription started with a promo code",
            lambda: F.col("promo_code").isNotNull(),
        ),
        Feature(
            "tenure_days",
            "int",
            "days from the spell's start (or first sighting) to the as-of date",
            lambda: F.datediff("as_of_date", F.to_date("spell_started_at")),
        ),
        Feature(
            "days_to_renewal",
            "int",
            "days from the as-of date to the next renewal (0: it renews that day), "
            "counted in billing periods from the spell's start; null for unknown plans",
            lambda: _days_to_renewal(params.billing_period_days),
        ),
        Feature(
            "cancel_pending",
            "boolean",
            "a cancel was requested before the as-of date; access has not ended yet",
            lambda: F.col("cancel_pending"),
        ),
    ]
    aggregates = []
    for w in params.failed_payment_windows:
        aggregates.append(
            Aggregate(
                f"failed_payments_{w}d",
                "payments",
                "sum",
                "CASE WHEN status = 'failed' THEN 1 ELSE 0 END",
                w,
            )
        )
        features.append(
            Feature(
                f"failed_payments_{w}d",
                "bigint",
                f"failed payments in the {w} days before",
                lambda w=w: F.col(f"failed_payments_{w}d"),
            )
        )
    r = params.refund_window_days
    aggregates.append(
        Aggregate(
            f"refunds_{r}d", "payments", "sum", "CASE WHEN status = 'refunded' THEN 1 ELSE 0 END", r
        )
    )
    features.append(
        Feature(
            f"refunds_{r}d",
            "bigint",
            f"refunded payments in the {r} days before",
            lambda: F.col(f"refunds_{r}d"),
        )
    )
    return FeatureGroup(
        name=NAME,
        table=TABLE,
        description="Market, plan, price, channel, promo, tenure, pending cancel and "
        "payment failures and refunds.",
        features=tuple(features),
        aggregates=tuple(aggregates),
    )


def _days_to_renewal(periods: dict[str, int]):
    period = F.create_map(
        *[x for plan, days in periods.items() for x in (F.lit(plan), F.lit(days))]
    )[F.col("plan")]
    elapsed = F.datediff("as_of_date", F.to_date("spell_started_at"))
    # Renewals fall on start + k * period; the next one on or after the as-of date.
    return F.pmod(-elapsed, period)
