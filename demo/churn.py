"""The churn process the simulator uses, and the true churn probability it implies.

Monthly subscribers, every day with access and no cancellation pending:
    h = h0 * exp(b1*high_buffering + b2*live_share_28d + b3*failed_payment_last_30d
                 + b4*favourite_competition_off_season)
    P(cancel that day) = 1 - exp(-h)
Annual subscribers decide only on their renewal day: P(cancel) = 1 - exp(-H0_ANNUAL * exp(b.x)).
On top, each renewal payment fails with p_fail; a failed payment is retried 1-3 days later
and fails again with 1 - RETRY_SUCCESS, which cancels the subscription (involuntary churn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

H0_MONTHLY = 0.0028  # per day
H0_ANNUAL = 0.35  # cumulative hazard at the renewal date
BETA = {
    "high_buffering": math.log(2.2),
    "live_share_28d": math.log(0.35),
    "failed_payment_last_30d": math.log(2.5),
    "favourite_competition_off_season": math.log(1.8),
}
HIGH_BUFFERING_RATIO = 0.02  # buffering / watch seconds over the last 14 days
HIGH_BUFFERING_MIN_WATCH_S = 600
OFF_SEASON_RADIUS_DAYS = 7  # no fixture of the competition within +-7 days
PAYMENT_FAIL_BASE = 0.035
PAYMENT_FAIL_CAP = 0.5
RETRY_SUCCESS = 0.6
BILLING_PERIOD_DAYS = {"monthly": 30, "annual": 365}


@dataclass(frozen=True)
class Covariates:
    high_buffering: int
    live_share_28d: float
    failed_payment_last_30d: int
    favourite_competition_off_season: int

    def linear_predictor(self) -> float:
        return (
            BETA["high_buffering"] * self.high_buffering
            + BETA["live_share_28d"] * self.live_share_28d
            + BETA["failed_payment_last_30d"] * self.failed_payment_last_30d
            + BETA["favourite_competition_off_season"] * self.favourite_competition_off_season
        )


def daily_hazard(x: Covariates) -> float:
    return H0_MONTHLY * math.exp(x.linear_predictor())


def renewal_cancel_probability(x: Covariates) -> float:
    return 1.0 - math.exp(-H0_ANNUAL * math.exp(x.linear_predictor()))


def payment_fail_probability(market_factor: float, pay_risk: float) -> float:
    return min(PAYMENT_FAIL_CAP, PAYMENT_FAIL_BASE * market_factor * pay_risk)


def churn_probability(
    plan: str,
    x: Covariates,
    horizon_days: int,
    renewals_in_horizon: int,
    p_fail: float,
    retry_pending: bool,
) -> float:
    """P(cancel within the horizon), covariates held at their as-of values."""
    survive = (1.0 - p_fail * (1.0 - RETRY_SUCCESS)) ** renewals_in_horizon
    if retry_pending:
        survive *= RETRY_SUCCESS
    if plan == "monthly":
        survive *= math.exp(-daily_hazard(x) * horizon_days)
    elif renewals_in_horizon:
        survive *= 1.0 - renewal_cancel_probability(x)
    return min(1.0, max(0.0, 1.0 - survive))


def model_card() -> dict:
    """The truth file content: formula, coefficients and hazard ratios."""
    return {
        "formula": (
            "monthly: daily P(cancel) = 1 - exp(-h), h = h0 * exp(b1*high_buffering + "
            "b2*live_share_28d + b3*failed_payment_last_30d + "
            "b4*favourite_competition_off_season); "
            "annual: P(cancel at renewal) = 1 - exp(-H0_annual * exp(b.x)); "
            "plus involuntary churn: "
            "renewal fails with p_fail, retry 1-3 days later fails with 1-retry_success -> cancel"
        ),
        "h0_monthly_per_day": H0_MONTHLY,
        "H0_annual_at_renewal": H0_ANNUAL,
        "coefficients": BETA,
        "hazard_ratios": {k: math.exp(v) for k, v in BETA.items()},
        "covariates": {
            "high_buffering": (
                f"1 if buffering_seconds/watch_seconds over the 14 days before the day > "
                f"{HIGH_BUFFERING_RATIO} and watch_seconds >= {HIGH_BUFFERING_MIN_WATCH_S}"
            ),
            "live_share_28d": (
                "live watch seconds / all watch seconds, 28 days before the day (0 if none)"
            ),
            "failed_payment_last_30d": (
                "1 if a payment of the subscription failed in the 30 days before"
            ),
            "favourite_competition_off_season": (
                f"1 if the user's favourite competition has no fixture within "
                f"+-{OFF_SEASON_RADIUS_DAYS} days of the day"
            ),
        },
        "payment": {
            "fail_probability": "min(0.5, 0.035 * market.payment_fail_factor * user.pay_risk)",
            "retry_success": RETRY_SUCCESS,
            "billing_period_days": BILLING_PERIOD_DAYS,
        },
        "p_churn": (
            "1 - exp(-h*H) * (1 - p_fail*(1-retry_success))^renewals_in_horizon "
            "* (retry_success if a retry is pending); annual: renewal decision instead of exp(-h*H)"
        ),
    }
