"""Who signs up when: a baseline hourly signup rate per market plus marquee-fixture lifts.

Baseline: lambda(market, hour) = size * weekday(local) * hour_of_day(local) * trend * season,
zero before the market launched, scaled so the whole period expects ``settings.users``
first signups. Lift: every (marquee fixture, broadcasting market) pair expects extra
signups in [kickoff - 2h, end - 10min], together ``fixture_lift_share * users``, shared
by market size, sport and the fixture's appeal: heavy-tailed (lognormal), so a few
blockbusters per market bring most of it, as in real signup spikes, and doubled in the
fixture's home market (its first rights holder).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from fanbase.demo.calendar import EPOCH, SPORTS, Fixture
from fanbase.demo.markets import Market
from fanbase.demo.rng import np_rng, py_rng, stable_bucket
from fanbase.demo.segments import (
    BASE_SEGMENT_MIX,
    CHANNELS,
    DEVICES,
    FIXTURE_DRIVEN_CHANNELS,
    FIXTURE_DRIVEN_MIX,
    MARKET_SEGMENT_TILT,
    SEGMENT_PROFILES,
)
from fanbase.demo.settings import SEGMENTS, GeneratorSettings

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
LIFT_BEFORE_MS = 2 * HOUR_MS
LIFT_END_MARGIN_MS = 10 * 60_000
WEEKDAY_FACTOR = (0.85, 0.8, 0.85, 0.9, 1.1, 1.35, 1.2)  # Monday first, local
HOUR_FACTOR = (
    0.3,
    0.15,
    0.1,
    0.08,
    0.08,
    0.12,
    0.3,
    0.55,
    0.7,
    0.8,
    0.9,
    1.0,
    1.1,
    1.05,
    1.0,
    1.05,
    1.15,
    1.3,
    1.55,
    1.75,
    1.8,
    1.6,
    1.1,
    0.6,
)
SEASON_FACTOR = (1.1, 1.0, 1.0, 0.95, 1.0, 0.7, 0.65, 1.4, 1.2, 1.0, 0.95, 0.9)  # Jan first
TREND_GROWTH = 0.3  # +30% over the period
# Appeal of a marquee fixture: lognormal with this sigma (the top 5 % carry ~half the lift).
LIFT_APPEAL_SIGMA = 1.5
HOME_MARKET_LIFT = 2.0
TEAM_SPORTS = ("football", "basketball", "american_football")
PROMO_CODES = ("WELCOME", "KICKOFF", "FANWEEK")


@dataclass(frozen=True)
class UserSeed:
    """A subscriber as drawn at first signup (the latent truth the behaviour builds on)."""

    user_id: str
    market: str
    signup_ms: int
    segment: str
    channel: str
    plan: str
    device: str
    promo_code: str | None
    fixture_index: int  # -1 unless a marquee fixture brought the signup
    favourite_team: str | None
    favourite_competition: str
    activity: float
    quality: float  # network quality: multiplies buffering
    pay_risk: float  # multiplies the renewal failure probability
    winback: float  # propensity to come back after churning


def utc_offsets_hours(market: Market, start: dt.date, days: int) -> np.ndarray:
    """Local UTC offset per day (at noon UTC), enough to place local hours."""
    tz = ZoneInfo(market.timezone)
    out = np.empty(days)
    for d in range(days):
        noon = dt.datetime.combine(start + dt.timedelta(days=d), dt.time(12), dt.UTC)
        out[d] = noon.astimezone(tz).utcoffset().total_seconds() / 3600
    return out


def baseline_rates(
    settings: GeneratorSettings, markets: dict[str, Market]
) -> dict[str, np.ndarray]:
    """Expected baseline first signups per UTC hour of the period, per market."""
    hours = settings.days * 24
    t = np.arange(hours)
    start_ms = int(
        (dt.datetime.combine(settings.start_date, dt.time(), dt.UTC) - EPOCH).total_seconds() * 1000
    )
    raw = {}
    for code, market in markets.items():
        offsets = np.repeat(utc_offsets_hours(market, settings.start_date, settings.days), 24)
        local_ms = start_ms + t * HOUR_MS + (offsets * HOUR_MS).astype(np.int64)
        local_days = local_ms // DAY_MS
        weekday = (local_days + 3) % 7  # 1970-01-01 was a Thursday
        hour = (local_ms % DAY_MS) // HOUR_MS
        month = np.array(
            [(settings.start_date + dt.timedelta(days=int(d))).month - 1 for d in t // 24]
        )
        rate = (
            market.size
            * np.asarray(WEEKDAY_FACTOR)[weekday]
            * np.asarray(HOUR_FACTOR)[hour]
            * np.asarray(SEASON_FACTOR)[month]
            * (1 + TREND_GROWTH * t / hours)
        )
        launch_hour = (market.launched_on - settings.start_date).days * 24
        rate[: max(0, launch_hour)] = 0.0
        raw[code] = rate
    total = sum(r.sum() for r in raw.values())
    return {code: r * settings.users / total for code, r in raw.items()}


def expected_in_window(rate: np.ndarray, start_ms: int, lo_ms: int, hi_ms: int) -> float:
    """Integral of an hourly rate over [lo, hi) (fractions of hours included)."""
    cumulative = np.concatenate([[0.0], np.cumsum(rate)])

    def at(ms: int) -> float:
        h = min(max((ms - start_ms) / HOUR_MS, 0.0), len(rate))
        i = int(h)
        return cumulative[i] + (rate[i] * (h - i) if i < len(rate) else 0.0)

    return float(at(hi_ms) - at(lo_ms))


@dataclass(frozen=True)
class LiftPair:
    fixture_index: int
    market: str
    window_start_ms: int
    window_end_ms: int
    expected_lift: float
    realised_extra: int
    expected_baseline: float


def plan_lifts(settings, markets, fixtures: list[Fixture], rates, start_ms) -> list[LiftPair]:
    """Expected and realised extra signups per (marquee fixture, market)."""
    pairs, weights = [], []
    for f in fixtures:
        if not f.marquee:
            continue
        lo = f.kickoff_ms - LIFT_BEFORE_MS
        hi = f.end_ms - LIFT_END_MARGIN_MS
        appeal = np_rng(settings.seed, "appeal", f.fixture_id).lognormal(0.0, LIFT_APPEAL_SIGMA)
        for position, code in enumerate(f.markets):
            market = markets[code]
            launch_ms = start_ms + (market.launched_on - settings.start_date).days * DAY_MS
            if lo < launch_ms or hi > start_ms + settings.days * DAY_MS:
                continue
            pairs.append((f, code, lo, hi))
            home = HOME_MARKET_LIFT if position == 0 else 1.0
            weights.append(market.size * (1.5 if f.sport == "football" else 1.0) * appeal * home)
    if not pairs:
        return []
    total_lift = settings.fixture_lift_share * settings.users
    expected = np.asarray(weights) * total_lift / sum(weights)
    realised = np_rng(settings.seed, "lift").poisson(expected)
    return [
        LiftPair(
            f.index,
            code,
            lo,
            hi,
            float(e),
            int(r),
            expected_in_window(rates[code], start_ms, lo, hi),
        )
        for (f, code, lo, hi), e, r in zip(pairs, expected, realised)
    ]


def _segment_mix(settings: GeneratorSettings, market: str, signup_ms: int, start_ms: int) -> dict:
    shift = settings.shift
    if shift.from_date and shift.segment_mix:
        shift_ms = start_ms + (shift.from_date - settings.start_date).days * DAY_MS
        if signup_ms >= shift_ms:
            return shift.segment_mix
    tilt = MARKET_SEGMENT_TILT.get(market, {})
    return {s: w * tilt.get(s, 1.0) for s, w in BASE_SEGMENT_MIX.items()}


def _favourites(rng, segment, market, fixture, team_pool) -> tuple[str | None, str]:
    if fixture is not None:
        team = rng.choice((fixture.home, fixture.away)) if fixture.sport in TEAM_SPORTS else None
        return team, fixture.competition
    weights = SEGMENT_PROFILES[segment].sports
    sports = [s for s in TEAM_SPORTS if team_pool[market].get(s)]
    sport = rng.choices(sports, [weights[SPORTS.index(s)] for s in sports])[0]
    candidates, counts = team_pool[market][sport]
    competition, team = rng.choices(candidates, counts)[0]
    return team, competition


def team_pool(fixtures: list[Fixture], markets: dict[str, Market]) -> dict:
    """Per market and team sport: (competition, team) candidates weighted by exposure."""
    counts: dict[str, dict[str, dict[tuple[str, str], float]]] = {m: {} for m in markets}
    for f in fixtures:
        if f.sport not in TEAM_SPORTS:
            continue
        for position, code in enumerate(f.markets):
            bonus = 4.0 if position == 0 else 1.0  # the first rights holder is the home market
            bucket = counts[code].setdefault(f.sport, {})
            for team in (f.home, f.away):
                bucket[(f.competition, team)] = bucket.get((f.competition, team), 0) + bonus
    return {
        m: {s: (sorted(c), [c[k] for k in sorted(c)]) for s, c in by_sport.items()}
        for m, by_sport in counts.items()
    }


def draw_users(settings, markets, fixtures, rates, lifts, start_ms) -> list[UserSeed]:
    """All first signups of the period with their latent attributes, ids by market and time."""
    pool = team_pool(fixtures, markets)
    users: list[UserSeed] = []
    for code in markets:
        rng = np_rng(settings.seed, "arrivals", code)
        counts = rng.poisson(rates[code])
        hours = np.repeat(np.arange(len(counts)), counts)
        times = start_ms + hours * HOUR_MS + rng.integers(0, HOUR_MS, size=len(hours))
        arrivals = [(int(ts), -1) for ts in times]
        lift_rng = np_rng(settings.seed, "lift-times", code)
        for pair in lifts:
            if pair.market == code and pair.realised_extra:
                extra = lift_rng.integers(
                    pair.window_start_ms, pair.window_end_ms, pair.realised_extra
                )
                arrivals += [(int(ts), pair.fixture_index) for ts in extra]
        arrivals.sort()
        for n, (ts, fixture_index) in enumerate(arrivals, start=1):
            user_id = f"u-{code.lower()}-{n:06d}"
            users.append(
                _draw_user(settings, user_id, code, ts, fixture_index, fixtures, pool, start_ms)
            )
    return users


def _draw_user(settings, user_id, market, ts, fixture_index, fixtures, pool, start_ms) -> UserSeed:
    rng = py_rng(settings.seed, "user", user_id)
    fixture = fixtures[fixture_index] if fixture_index >= 0 else None
    if fixture is not None:
        mix = FIXTURE_DRIVEN_MIX[fixture.sport == "football"]
    else:
        mix = _segment_mix(settings, market, ts, start_ms)
    segment = rng.choices(list(mix), list(mix.values()))[0]
    profile = SEGMENT_PROFILES[segment]
    channels = FIXTURE_DRIVEN_CHANNELS if fixture is not None else profile.channels
    channel = rng.choices(CHANNELS, channels)[0]
    annual_share = profile.annual_share * (0.3 if fixture is not None else 1.0)
    plan = "annual" if rng.random() < annual_share else "monthly"
    device = rng.choices(DEVICES, profile.devices)[0]
    promo = None
    if channel == "partner" or rng.random() < 0.08:
        promo = "PARTNER" if channel == "partner" else rng.choice(PROMO_CODES)
    team, competition = _favourites(rng, segment, market, fixture, pool)
    return UserSeed(
        user_id,
        market,
        ts,
        segment,
        channel,
        plan,
        device,
        promo,
        fixture_index,
        team,
        competition,
        rng.lognormvariate(0, 0.3),
        rng.lognormvariate(0, 0.5),
        rng.lognormvariate(0, 0.5),
        rng.random(),
    )


def shard_of(user_id: str, shards: int) -> int:
    return stable_bucket(user_id, shards)


assert set(BASE_SEGMENT_MIX) == set(SEGMENTS)
