"""The fixture calendar: real football plus generated sports, with stable ids per sport."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from fanbase.demo.football import FOOTBALL_DURATION_MINUTES, load_football
from fanbase.demo.settings import GeneratorSettings
from fanbase.demo.sports import GENERATORS, Draft

logger = logging.getLogger(__name__)

SPORTS = (
    "football",
    "tennis",
    "basketball",
    "american_football",
    "mma",
    "boxing",
    "motorsport",
    "darts",
)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Fixture:
    index: int
    fixture_id: str
    sport: str
    competition: str
    home: str
    away: str
    kickoff: dt.datetime
    duration_minutes: int
    markets: tuple[str, ...]
    tier: str
    home_score: int | None
    away_score: int | None
    home_culture: str
    away_culture: str

    @property
    def kickoff_ms(self) -> int:
        return int((self.kickoff - EPOCH).total_seconds() * 1000)

    @property
    def end_ms(self) -> int:
        return self.kickoff_ms + self.duration_minutes * 60_000

    @property
    def marquee(self) -> bool:
        return self.tier == "marquee"

    @property
    def head_to_head(self) -> bool:
        """Two sides with a result, so fans of each side exist (not a race session)."""
        return self.home_score is not None

    def reference_row(self) -> dict:
        return {
            "fixture_id": self.fixture_id,
            "sport": self.sport,
            "competition": self.competition,
            "home": self.home,
            "away": self.away,
            "kickoff": self.kickoff.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "duration_minutes": self.duration_minutes,
            "markets": list(self.markets),
            "tier": self.tier,
        }


def _football_drafts(settings: GeneratorSettings) -> list[Draft]:
    return [
        Draft(
            "football",
            m.competition.name,
            m.home,
            m.away,
            m.kickoff_utc,
            FOOTBALL_DURATION_MINUTES,
            m.competition.markets,
            m.marquee,
            m.home_score,
            m.away_score,
            m.home_culture,
            m.away_culture,
        )
        for m in load_football(settings.start_date, settings.days)
    ]


def build_calendar(settings: GeneratorSettings) -> list[Fixture]:
    """All fixtures of the period, sorted by kickoff; ids are fx-<sport>-<n> by kickoff order."""
    end = settings.end_date
    drafts = _football_drafts(settings)
    for generate_sport in GENERATORS:
        drafts += generate_sport(settings.start_date, end, settings.seed)
    drafts = [d for d in drafts if settings.start_date <= d.kickoff_utc.date() < end]
    chosen = set(settings.markets)
    drafts.sort(key=lambda d: (d.sport, d.kickoff_utc, d.competition, d.home, d.away))
    numbered: list[tuple[str, Draft]] = []
    counters: dict[str, int] = {}
    for draft in drafts:
        counters[draft.sport] = counters.get(draft.sport, 0) + 1
        numbered.append((f"fx-{draft.sport}-{counters[draft.sport]:05d}", draft))
    numbered.sort(key=lambda item: (item[1].kickoff_utc, item[0]))
    fixtures = [
        Fixture(
            index,
            fixture_id,
            d.sport,
            d.competition,
            d.home,
            d.away,
            d.kickoff_utc,
            d.duration_minutes,
            tuple(m for m in d.markets if m in chosen),
            "marquee" if d.marquee else "standard",
            d.home_score,
            d.away_score,
            d.home_culture,
            d.away_culture,
        )
        for index, (fixture_id, d) in enumerate(numbered)
    ]
    logger.info("calendar: %d fixtures, by sport %s", len(fixtures), dict(sorted(counters.items())))
    return fixtures
