"""Every knob of the demo generator in one validated model (unknown keys are errors)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator

ALL_MARKETS = ("DE", "AT", "CH", "IT", "ES", "JP", "CA", "US", "GB", "BR")
SEGMENTS = (
    "football_diehard",
    "casual_highlights",
    "multisport_tv",
    "mobile_commuter",
    "big_event_only",
)


class FaultRates(BaseModel):
    """Per-line probabilities of each planted fault (bad-line kinds use the ingestion codes)."""

    model_config = ConfigDict(extra="forbid")

    duplicate: float = Field(0.003, ge=0, le=0.2)
    late: float = Field(0.004, ge=0, le=0.5)
    not_json: float = Field(0.0005, ge=0, le=0.05)
    not_utf8: float = Field(0.0005, ge=0, le=0.05)
    missing_field: float = Field(0.0005, ge=0, le=0.05)
    wrong_type: float = Field(0.0005, ge=0, le=0.05)
    unknown_event_type: float = Field(0.0005, ge=0, le=0.05)
    unknown_device: float = Field(0.0005, ge=0, le=0.05)
    unknown_plan: float = Field(0.0005, ge=0, le=0.05)
    unknown_mode: float = Field(0.0005, ge=0, le=0.05)
    unknown_status: float = Field(0.0005, ge=0, le=0.05)
    unknown_market: float = Field(0.0005, ge=0, le=0.05)
    bad_timestamp: float = Field(0.0005, ge=0, le=0.05)
    before_market_launch: float = Field(0.0005, ge=0, le=0.05)
    future_timestamp: float = Field(0.0005, ge=0, le=0.05)
    negative_value: float = Field(0.0005, ge=0, le=0.05)
    unknown_fixture: float = Field(0.0005, ge=0, le=0.05)

    @classmethod
    def none(cls) -> FaultRates:
        return cls(**{name: 0.0 for name in cls.model_fields})

    def bad_line_rates(self, kinds: tuple[str, ...]) -> dict[str, float]:
        return {kind: getattr(self, kind) for kind in kinds}


class ShiftSettings(BaseModel):
    """An optional planted drift for monitoring work: off unless ``from_date`` is set."""

    model_config = ConfigDict(extra="forbid")

    from_date: dt.date | None = None
    buffering_factor: float = Field(1.0, gt=0)
    # Segment mix of NEW signups from from_date (weights, normalised); None keeps the mix.
    segment_mix: dict[str, float] | None = None

    @model_validator(mode="after")
    def _known_segments(self) -> ShiftSettings:
        unknown = set(self.segment_mix or {}) - set(SEGMENTS)
        if unknown:
            raise ValueError(f"unknown segments in shift.segment_mix: {sorted(unknown)}")
        return self


class GeneratorSettings(BaseModel):
    """Demo defaults: ~6,000 subscribers over 365 days (~1M event lines)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 20240801
    users: int = Field(5000, ge=10, description="expected baseline first signups")
    start_date: dt.date = dt.date(2024, 8, 1)
    days: int = Field(365, ge=7, le=3 * 366)
    markets: list[str] = Field(default_factory=lambda: list(ALL_MARKETS))
    shards: int = Field(8, ge=1, le=256)
    workers: int | None = Field(None, ge=1, description="processes; None = cpu count")
    # Share of first signups caused by marquee fixtures (on top of the baseline).
    fixture_lift_share: float = Field(0.2, ge=0, le=1)
    social_posts_per_day: float = Field(220.0, ge=0)
    label_fraction: float = Field(0.10, ge=0, le=1)
    churn_horizon_days: int = Field(30, ge=1)
    # As-of dates of truth/churn_probability: start + first, then every `every` days.
    churn_as_of_first_days: int = Field(56, ge=1)
    churn_as_of_every_days: int = Field(28, ge=1)
    max_late_days: int = Field(5, ge=1, le=14)
    faults: FaultRates = Field(default_factory=FaultRates)
    social_faults: FaultRates = Field(default_factory=FaultRates)
    shift: ShiftSettings = Field(default_factory=ShiftSettings)

    @model_validator(mode="after")
    def _known_markets(self) -> GeneratorSettings:
        unknown = set(self.markets) - set(ALL_MARKETS)
        if unknown or not self.markets:
            raise ValueError(f"markets must be a non-empty subset of {ALL_MARKETS}")
        if len(set(self.markets)) != len(self.markets):
            raise ValueError("markets must not repeat")
        return self

    @property
    def end_date(self) -> dt.date:
        """First day NOT simulated."""
        return self.start_date + dt.timedelta(days=self.days)

    @classmethod
    def tiny(cls, **overrides) -> GeneratorSettings:
        """Test preset: ~300 subscribers over 21 days, every fault kind at a visible rate."""
        rates = {name: 0.004 for name in FaultRates.model_fields}
        rates.update(duplicate=0.01, late=0.02)
        values = {
            "users": 300,
            "days": 21,
            "shards": 4,
            "workers": 2,
            "social_posts_per_day": 60.0,
            "fixture_lift_share": 0.25,
            "churn_as_of_first_days": 7,
            "churn_as_of_every_days": 7,
            "faults": FaultRates(**rates),
            "social_faults": FaultRates(**rates),
        }
        values.update(overrides)
        return cls(**values)
