"""The football part of the calendar: real 2024/25 fixtures shipped with the package.

Kickoffs in the openfootball files are local times; each competition's country
timezone turns them into UTC. For another start date the whole season moves by
whole weeks (so a Saturday match stays a Saturday match) and repeats every 52 weeks
when the period is longer than a season.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from importlib import resources
from zoneinfo import ZoneInfo

from fanbase.demo.rng import py_rng

SEASON_ANCHOR = dt.date(2024, 8, 1)
DATA_FOLDER = "openfootball-2024-25"
FOOTBALL_DURATION_MINUTES = 115


@dataclass(frozen=True)
class Competition:
    code: str
    name: str
    timezone: str
    culture: str
    markets: tuple[str, ...]
    top_league: bool = False


# Rights differ per market on purpose: the domestic league at home, the big leagues abroad.
COMPETITIONS = {
    c.code: c
    for c in (
        Competition("at.1", "Österr. Bundesliga", "Europe/Vienna", "de", ("AT", "DE", "CH")),
        Competition("at.2", "Österr. 2. Liga", "Europe/Vienna", "de", ("AT",)),
        Competition("au.1", "A-League", "Australia/Sydney", "en", ("JP", "GB")),
        Competition("be.1", "Belgium First Division A", "Europe/Brussels", "fr", ("CA", "DE")),
        Competition(
            "de.1", "Deutsche Bundesliga", "Europe/Berlin", "de", ("DE", "AT", "CH", "JP"), True
        ),
        Competition("de.2", "Deutsche 2. Bundesliga", "Europe/Berlin", "de", ("DE", "AT", "CH")),
        Competition("dz.1", "Algeria Ligue 1", "Africa/Algiers", "ar", ("CA",)),
        Competition("eg.1", "Egypt Premiership", "Africa/Cairo", "ar", ("CA", "GB")),
        Competition(
            "en.1",
            "English Premier League",
            "Europe/London",
            "en",
            ("DE", "AT", "CH", "JP", "CA", "BR"),
            True,
        ),
        Competition("en.2", "English Championship", "Europe/London", "en", ("GB", "US", "CA")),
        Competition("en.3", "English League One", "Europe/London", "en", ("GB",)),
        Competition("en.4", "English League Two", "Europe/London", "en", ("GB",)),
        Competition(
            "es.1",
            "Spain Primera División",
            "Europe/Madrid",
            "es",
            ("ES", "DE", "AT", "CH", "GB", "JP", "US", "BR"),
            True,
        ),
        Competition("es.2", "Spain Segunda División", "Europe/Madrid", "es", ("ES",)),
        Competition("fr.1", "French Ligue 1", "Europe/Paris", "fr", ("DE", "AT", "ES", "CA"), True),
        Competition("fr.2", "French Ligue 2", "Europe/Paris", "fr", ("CA",)),
        Competition("gr.1", "Greek Super League", "Europe/Athens", "en", ("DE",)),
        Competition(
            "it.1",
            "Italian Serie A",
            "Europe/Rome",
            "it",
            ("IT", "DE", "AT", "CH", "ES", "JP", "CA", "US", "BR"),
            True,
        ),
        Competition("it.2", "Italian Serie B", "Europe/Rome", "it", ("IT",)),
        Competition("ma.1", "Botola Pro 1", "Africa/Casablanca", "ar", ("ES",)),
        Competition("mx.1", "Liga MX", "America/Mexico_City", "es", ("US", "CA")),
        Competition("nl.1", "Netherlands Eredivisie", "Europe/Amsterdam", "nl", ("DE", "AT")),
        Competition("pt.1", "Portuguese Primeira Liga", "Europe/Lisbon", "pt", ("ES", "BR")),
        Competition("sco.1", "Scottish Premiership", "Europe/London", "en", ("GB", "US", "CA")),
        Competition("tr.1", "Turkish Süper Lig", "Europe/Istanbul", "tr", ("DE", "AT", "CH")),
        Competition(
            "uefa.cl",
            "UEFA Champions League",
            "Europe/Berlin",
            "en",
            ("DE", "AT", "CH", "IT", "ES", "JP", "GB"),
            True,
        ),
    )
}
_CL_CULTURE = {
    "GER": "de",
    "AUT": "de",
    "SUI": "de",
    "ITA": "it",
    "ESP": "es",
    "ENG": "en",
    "SCO": "en",
    "FRA": "fr",
    "MCO": "fr",
    "BEL": "fr",
    "NED": "nl",
    "POR": "pt",
}
_DEFAULT_LOCAL_TIME = "18:00"


@dataclass(frozen=True)
class FootballMatch:
    competition: Competition
    home: str
    away: str
    home_culture: str
    away_culture: str
    kickoff_utc: dt.datetime
    home_score: int
    away_score: int
    marquee: bool
    order: tuple


def _team(raw: str, competition: Competition) -> tuple[str, str]:
    """Canonical team name (CL names lose their ' (GER)' suffix) and its naming culture."""
    if competition.code == "uefa.cl" and raw.endswith(")") and " (" in raw:
        name, country = raw[:-1].rsplit(" (", 1)
        return name, _CL_CULTURE.get(country, "en")
    return raw, competition.culture


def _load_raw(code: str) -> list[dict]:
    folder = resources.files("fanbase.demo") / "data" / DATA_FOLDER
    return json.loads((folder / f"{code}.json").read_text(encoding="utf-8"))["matches"]


def _top_teams(matches: list[dict], count: int = 4) -> set[str]:
    """The final table's top teams, computed from the real scores."""
    points: dict[str, int] = {}
    for m in matches:
        ft = m.get("score", {}).get("ft")
        for team in (m["team1"], m["team2"]):
            points.setdefault(team, 0)
        if not ft:
            continue
        if ft[0] > ft[1]:
            points[m["team1"]] += 3
        elif ft[0] < ft[1]:
            points[m["team2"]] += 3
        else:
            points[m["team1"]] += 1
            points[m["team2"]] += 1
    ranked = sorted(points, key=lambda t: (-points[t], t))
    return set(ranked[:count])


def _is_marquee(competition: Competition, raw: dict, top: set[str]) -> bool:
    if competition.code == "uefa.cl":
        return not raw["round"].startswith("League") or (
            raw["team1"] in top and raw["team2"] in top
        )
    return competition.top_league and raw["team1"] in top and raw["team2"] in top


def _season_offsets(start: dt.date, days: int) -> list[int]:
    """Day offsets (whole weeks) of each season copy that can overlap the period."""
    base = 7 * round((start - SEASON_ANCHOR).days / 7)
    copies = math.ceil(days / 364) + 1
    return [base + 364 * k for k in range(-1, copies)]


def load_football(start: dt.date, days: int) -> list[FootballMatch]:
    """Every real match that falls in [start, start+days) after the whole-week shift."""
    end = start + dt.timedelta(days=days)
    offsets = _season_offsets(start, days)
    matches: list[FootballMatch] = []
    for code, competition in COMPETITIONS.items():
        raw_matches = _load_raw(code)
        top = _top_teams(raw_matches, 6 if code == "uefa.cl" else 4)
        tz = ZoneInfo(competition.timezone)
        for index, raw in enumerate(raw_matches):
            local_date = dt.date.fromisoformat(raw["date"])
            hour, minute = map(int, raw.get("time", _DEFAULT_LOCAL_TIME).split(":"))
            home, home_culture = _team(raw["team1"], competition)
            away, away_culture = _team(raw["team2"], competition)
            ft = raw.get("score", {}).get("ft")
            if not ft:
                # Unplayed in the source: a plausible, deterministic score.
                rng = py_rng(0, "score", code, index)
                ft = [min(6, int(rng.expovariate(0.7))), min(6, int(rng.expovariate(0.9)))]
            marquee = _is_marquee(competition, raw, top)
            for offset in offsets:
                shifted = local_date + dt.timedelta(days=offset)
                local = dt.datetime(
                    shifted.year, shifted.month, shifted.day, hour, minute, tzinfo=tz
                )
                kickoff = local.astimezone(dt.UTC)
                if not (start <= kickoff.date() < end):
                    continue
                matches.append(
                    FootballMatch(
                        competition,
                        home,
                        away,
                        home_culture,
                        away_culture,
                        kickoff,
                        int(ft[0]),
                        int(ft[1]),
                        marquee,
                        (offset, code, index),
                    )
                )
    return matches
