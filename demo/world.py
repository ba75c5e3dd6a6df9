"""Everything shared by the workers: markets, calendar, day indexes, incidents and signups.

Built once in the parent from the seed alone (never from the shard count), then handed
to every worker process.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from fanbase.demo.calendar import EPOCH, Fixture, build_calendar
from fanbase.demo.churn import OFF_SEASON_RADIUS_DAYS
from fanbase.demo.markets import Market, build_markets
from fanbase.demo.population import (
    DAY_MS,
    LiftPair,
    UserSeed,
    baseline_rates,
    draw_users,
    plan_lifts,
    shard_of,
    utc_offsets_hours,
)
from fanbase.demo.rng import np_rng
from fanbase.demo.settings import GeneratorSettings

logger = logging.getLogger(__name__)

INCIDENT_PROBABILITY = {"marquee": 0.12, "standard": 0.004}
INCIDENT_FACTOR = 6.0


@dataclass
class World:
    settings: GeneratorSettings
    start_ms: int
    markets: dict[str, Market]
    fixtures: list[Fixture]
    # live[day][market][sport] -> fixture indexes kicking off that UTC day
    live: list[dict[str, dict[str, list[int]]]]
    marquee: list[dict[str, list[int]]]
    team_days: dict[str, dict[int, int]]
    competition_off: dict[str, list[bool]]
    offsets: dict[str, list[float]]
    incidents: dict[tuple[int, str], float]
    baseline: dict  # market -> np.ndarray of expected signups per hour
    lifts: list[LiftPair]
    users_by_shard: list[list[UserSeed]]

    def day_of(self, ms: int) -> int:
        return (ms - self.start_ms) // DAY_MS

    def date_of_day(self, day: int) -> dt.date:
        return self.settings.start_date + dt.timedelta(days=day)


def _indexes(settings, markets, fixtures, start_ms):
    days = settings.days
    live = [{m: {} for m in markets} for _ in range(days)]
    marquee = [{m: [] for m in markets} for _ in range(days)]
    team_days: dict[str, dict[int, int]] = {}
    comp_days: dict[str, set[int]] = {}
    for f in fixtures:
        day = (f.kickoff_ms - start_ms) // DAY_MS
        for code in f.markets:
            live[day][code].setdefault(f.sport, []).append(f.index)
            if f.marquee:
                marquee[day][code].append(f.index)
        if f.head_to_head:
            for team in (f.home, f.away):
                team_days.setdefault(team, {})[day] = f.index
        comp_days.setdefault(f.competition, set()).add(day)
    r = OFF_SEASON_RADIUS_DAYS
    competition_off = {
        comp: [not any(d + k in active for k in range(-r, r + 1)) for d in range(days)]
        for comp, active in comp_days.items()
    }
    return live, marquee, team_days, competition_off


def _incidents(settings, markets, fixtures) -> dict[tuple[int, str], float]:
    """Buffering spikes: a (fixture, market) stream that buffers INCIDENT_FACTOR times more."""
    rng = np_rng(settings.seed, "incidents")
    pairs = [(f.index, m, f.tier) for f in fixtures for m in f.markets]
    draws = rng.random(len(pairs))
    return {
        (index, m): INCIDENT_FACTOR
        for (index, m, tier), u in zip(pairs, draws)
        if u < INCIDENT_PROBABILITY[tier]
    }


def build_world(settings: GeneratorSettings) -> World:
    start_ms = int(
        (dt.datetime.combine(settings.start_date, dt.time(), dt.UTC) - EPOCH).total_seconds() * 1000
    )
    markets = build_markets(settings)
    fixtures = build_calendar(settings)
    live, marquee, team_days, competition_off = _indexes(settings, markets, fixtures, start_ms)
    span = settings.days + settings.max_late_days + 3
    offsets = {c: list(utc_offsets_hours(m, settings.start_date, span)) for c, m in markets.items()}
    rates = baseline_rates(settings, markets)
    lifts = plan_lifts(settings, markets, fixtures, rates, start_ms)
    users = draw_users(settings, markets, fixtures, rates, lifts, start_ms)
    by_shard: list[list[UserSeed]] = [[] for _ in range(settings.shards)]
    for user in users:
        by_shard[shard_of(user.user_id, settings.shards)].append(user)
    for shard_users in by_shard:
        shard_users.sort(key=lambda u: (u.signup_ms, u.user_id))
    logger.info(
        "world: %d markets, %d fixtures, %d first signups (%d fixture-driven)",
        len(markets),
        len(fixtures),
        len(users),
        sum(p.realised_extra for p in lifts),
    )
    return World(
        settings,
        start_ms,
        markets,
        fixtures,
        live,
        marquee,
        team_days,
        competition_off,
        offsets,
        _incidents(settings, markets, fixtures),
        rates,
        lifts,
        by_shard,
    )
