"""The markets of the demo world: currency, prices, launch date and local quirks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fanbase.demo.settings import GeneratorSettings


@dataclass(frozen=True)
class Market:
    market: str
    currency: str
    monthly_price: float
    annual_price: float
    launched_on: dt.date
    timezone: str
    language: str
    # Relative size of the baseline signup stream.
    size: float
    # Multiplies every playback's buffering ratio (network quality in the market).
    buffering_factor: float
    # Multiplies the probability that a renewal payment fails.
    payment_fail_factor: float

    def reference_row(self) -> dict:
        return {
            "market": self.market,
            "currency": self.currency,
            "monthly_price": self.monthly_price,
            "annual_price": self.annual_price,
            "launched_on": self.launched_on.isoformat(),
        }


# Markets launched long ago have a fixed date; the rest launch at a fraction of the
# simulated period, so "before the market launched" is testable for any period.
_MARKETS = (
    # code, currency, monthly, annual, launched (date | fraction), tz, lang, size, buf, pay
    ("DE", "EUR", 29.99, 299.99, dt.date(2016, 8, 10), "Europe/Berlin", "de", 1.6, 1.0, 1.0),
    ("AT", "EUR", 29.99, 299.99, dt.date(2016, 8, 10), "Europe/Vienna", "de", 0.5, 1.0, 0.9),
    ("CH", "CHF", 29.90, 299.00, dt.date(2016, 8, 10), "Europe/Zurich", "de", 0.4, 0.7, 0.7),
    ("IT", "EUR", 34.99, 349.99, dt.date(2018, 8, 1), "Europe/Rome", "it", 1.4, 1.5, 1.2),
    ("ES", "EUR", 29.99, 299.99, dt.date(2019, 2, 1), "Europe/Madrid", "es", 1.1, 1.2, 1.1),
    ("JP", "JPY", 4200, 32000, 0.25, "Asia/Tokyo", "ja", 0.9, 0.6, 0.6),
    ("CA", "CAD", 24.99, 199.99, 0.10, "America/Toronto", "en", 0.6, 1.0, 1.0),
    ("US", "USD", 24.99, 224.99, dt.date(2020, 9, 1), "America/New_York", "en", 1.2, 1.1, 1.0),
    ("GB", "GBP", 19.99, 179.99, dt.date(2020, 12, 1), "Europe/London", "en", 1.0, 0.9, 0.9),
    ("BR", "BRL", 49.90, 479.90, 0.50, "America/Sao_Paulo", "pt", 0.9, 2.0, 2.2),
)


def build_markets(settings: GeneratorSettings) -> dict[str, Market]:
    """The selected markets, in the canonical order, with launch dates resolved."""
    chosen = {}
    for code, cur, monthly, annual, launch, tz, lang, size, buf, pay in _MARKETS:
        if code not in settings.markets:
            continue
        if isinstance(launch, float):
            launch = settings.start_date + dt.timedelta(days=round(launch * settings.days))
        chosen[code] = Market(code, cur, monthly, annual, launch, tz, lang, size, buf, pay)
    return chosen
