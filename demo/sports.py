"""Generated (non-football) sports: realistic seasons, local kickoff times and weekly rhythms.

Seasons are defined by day-of-year windows so any start date gets a plausible calendar.
Team names of US leagues and EuroLeague are real; every person is invented (names.py).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fanbase.demo.names import person_name
from fanbase.demo.rng import py_rng


@dataclass(frozen=True)
class Draft:
    """A fixture before it gets its id."""

    sport: str
    competition: str
    home: str
    away: str
    kickoff_utc: dt.datetime
    duration_minutes: int
    markets: tuple[str, ...]
    marquee: bool
    home_score: int | None = None
    away_score: int | None = None
    home_culture: str = "en"
    away_culture: str = "en"


NBA_TEAMS = (
    "Atlanta Hawks",
    "Boston Celtics",
    "Brooklyn Nets",
    "Charlotte Hornets",
    "Chicago Bulls",
    "Cleveland Cavaliers",
    "Dallas Mavericks",
    "Denver Nuggets",
    "Detroit Pistons",
    "Golden State Warriors",
    "Houston Rockets",
    "Indiana Pacers",
    "LA Clippers",
    "Los Angeles Lakers",
    "Memphis Grizzlies",
    "Miami Heat",
    "Milwaukee Bucks",
    "Minnesota Timberwolves",
    "New Orleans Pelicans",
    "New York Knicks",
    "Oklahoma City Thunder",
    "Orlando Magic",
    "Philadelphia 76ers",
    "Phoenix Suns",
    "Portland Trail Blazers",
    "Sacramento Kings",
    "San Antonio Spurs",
    "Toronto Raptors",
    "Utah Jazz",
    "Washington Wizards",
)
EUROLEAGUE_TEAMS = (
    "Real Madrid Baloncesto",
    "FC Barcelona Basquet",
    "Olimpia Milano",
    "Virtus Bologna",
    "FC Bayern Basketball",
    "ALBA Berlin",
    "Panathinaikos",
    "Olympiacos",
    "Fenerbahce",
    "Anadolu Efes",
    "Maccabi Tel Aviv",
    "Zalgiris Kaunas",
    "Partizan Belgrade",
    "Crvena Zvezda",
    "AS Monaco Basket",
    "Baskonia",
    "Valencia Basket",
    "Paris Basketball",
)
NFL_TEAMS = (
    "Arizona Cardinals",
    "Atlanta Falcons",
    "Baltimore Ravens",
    "Buffalo Bills",
    "Carolina Panthers",
    "Chicago Bears",
    "Cincinnati Bengals",
    "Cleveland Browns",
    "Dallas Cowboys",
    "Denver Broncos",
    "Detroit Lions",
    "Green Bay Packers",
    "Houston Texans",
    "Indianapolis Colts",
    "Jacksonville Jaguars",
    "Kansas City Chiefs",
    "Las Vegas Raiders",
    "Los Angeles Chargers",
    "Los Angeles Rams",
    "Miami Dolphins",
    "Minnesota Vikings",
    "New England Patriots",
    "New Orleans Saints",
    "New York Giants",
    "New York Jets",
    "Philadelphia Eagles",
    "Pittsburgh Steelers",
    "San Francisco 49ers",
    "Seattle Seahawks",
    "Tampa Bay Buccaneers",
    "Tennessee Titans",
    "Washington Commanders",
)
_CULTURES = ("de", "it", "es", "en", "pt", "fr", "nl", "us", "ja", "tr", "ar")

NY, LONDON, BERLIN = "America/New_York", "Europe/London", "Europe/Berlin"


def _utc(day: dt.date, hour: int, minute: int, tz: str) -> dt.datetime:
    local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(tz))
    return local.astimezone(dt.UTC)


def _days(start: dt.date, end: dt.date):
    day = start
    while day < end:
        yield day
        day += dt.timedelta(days=1)


def _in_window(day: dt.date, first: tuple[int, int], last: tuple[int, int]) -> bool:
    """Whether day's (month, day) lies in a yearly window that may wrap over New Year."""
    md = (day.month, day.day)
    return first <= md <= last if first <= last else (md >= first or md <= last)


def _pool(key: str, size: int) -> list[tuple[str, str]]:
    """A fixed roster of invented athletes (name, culture), strongest first."""
    return [
        (person_name(f"{key}#{i}", _CULTURES[i % len(_CULTURES)]), _CULTURES[i % len(_CULTURES)])
        for i in range(size)
    ]


def _winner_first(rng: random.Random, a: int, b: int) -> bool:
    """True if the better-ranked (lower index) of two athletes wins; upsets happen."""
    p_a = 0.5 + 0.35 * (b - a) / max(a + b + 1, 1)
    return rng.random() < p_a


def _bracket(rng, entrants, schedule, make) -> list[Draft]:
    """Play a knockout bracket; schedule[r] lists the (day, hour, minute) slots of round r."""
    drafts, alive = [], list(entrants)
    for slots in schedule:
        nxt = []
        for m in range(len(alive) // 2):
            a, b = alive[2 * m], alive[2 * m + 1]
            first_wins = _winner_first(rng, a[0], b[0])
            nxt.append(a if first_wins else b)
            drafts.append(make(slots[m % len(slots)], a, b, first_wins, len(alive)))
        alive = nxt
    return drafts


def tennis(start: dt.date, end: dt.date, seed: int) -> list[Draft]:
    slams = {
        3: ("Australian Open", "Australia/Melbourne"),
        21: ("Roland Garros", "Europe/Paris"),
        27: ("Wimbledon", LONDON),
        35: ("US Open", NY),
    }
    cities = (
        ("Rotterdam", "Europe/Amsterdam"),
        ("Doha", "Asia/Qatar"),
        ("Dubai", "Asia/Dubai"),
        ("Indian Wells", "America/Los_Angeles"),
        ("Miami", NY),
        ("Monte Carlo", "Europe/Monaco"),
        ("Barcelona", "Europe/Madrid"),
        ("Munich", BERLIN),
        ("Madrid", "Europe/Madrid"),
        ("Rome", "Europe/Rome"),
        ("Halle", BERLIN),
        ("Queens", LONDON),
        ("Hamburg", BERLIN),
        ("Gstaad", "Europe/Zurich"),
        ("Kitzbuehel", "Europe/Vienna"),
        ("Toronto", "America/Toronto"),
        ("Cincinnati", NY),
        ("Tokyo", "Asia/Tokyo"),
        ("Beijing", "Asia/Shanghai"),
        ("Vienna", "Europe/Vienna"),
        ("Basel", "Europe/Zurich"),
        ("Paris", "Europe/Paris"),
    )
    tours = {
        "ATP": ("DE", "AT", "CH", "IT", "ES", "JP"),
        "WTA": ("DE", "AT", "CH", "IT", "GB", "JP"),
    }
    slam_markets = ("DE", "AT", "CH", "IT", "ES", "JP", "BR", "GB")
    drafts: list[Draft] = []
    for monday in _days(start, end):
        if monday.weekday() != 0:
            continue
        week = monday.isocalendar()[1]
        if week > 46 or week in {s + 1 for s in slams}:
            continue
        for tour, markets in tours.items():
            rng = py_rng(seed, "tennis", tour, monday.isoformat())
            roster = _pool(f"tennis-{tour}", 160)
            is_slam = week in slams
            name, tz = slams[week] if is_slam else cities[week % len(cities)]
            size = 128 if is_slam else 32
            entrants = rng.sample(range(len(roster)), size)
            entrants = [(i, roster[i]) for i in entrants]
            if is_slam:
                plan = [
                    (0, 32),
                    (1, 32),
                    (2, 16),
                    (3, 16),
                    (4, 8),
                    (5, 8),
                    (7, 4),
                    (9, 4),
                    (11, 2),
                    (13, 1),
                ]
                rounds = [
                    plan[0:2],
                    plan[2:4],
                    plan[4:6],
                    plan[6:7],
                    plan[7:8],
                    plan[8:9],
                    plan[9:10],
                ]
            else:
                plan_rounds = [[(0, 8), (1, 8)], [(2, 4), (3, 4)], [(4, 4)], [(5, 2)], [(6, 1)]]
                rounds = plan_rounds
            schedule = []
            for round_days in rounds:
                slots = []
                for day_offset, count in round_days:
                    for k in range(count):
                        slots.append((monday + dt.timedelta(days=day_offset), 11 + (k % 6) * 1.5))
                schedule.append(slots)
            competition = f"{tour} {name}"
            best_of = 5 if is_slam and tour == "ATP" else 3

            def make(
                slot,
                a,
                b,
                first_wins,
                remaining,
                competition=competition,
                tz=tz,
                markets=markets,
                is_slam=is_slam,
                best_of=best_of,
                rng=rng,
            ):
                day, hour = slot
                kickoff = _utc(day, int(hour), 30 if hour % 1 else 0, tz)
                lost = rng.randint(0, best_of // 2)
                win = best_of // 2 + 1
                marquee = remaining <= (8 if is_slam else 2)
                return Draft(
                    "tennis",
                    competition,
                    a[1][0],
                    b[1][0],
                    kickoff,
                    rng.randint(70, 150) if best_of == 3 else rng.randint(110, 250),
                    slam_markets if is_slam else markets,
                    marquee,
                    win if first_wins else lost,
                    lost if first_wins else win,
                    a[1][1],
                    b[1][1],
                )

            drafts.extend(
                d for d in _bracket(rng, entrants, schedule, make) if d.kickoff_utc.date() < end
            )
    return drafts


def _pairings(rng: random.Random, teams: tuple[str, ...], count: int) -> list[tuple[str, str]]:
    order = list(teams)
    rng.shuffle(order)
    return [(order[2 * i], order[2 * i + 1]) for i in range(min(count, len(order) // 2))]


def _team_drafts(sport, competition, rng, pairs, times, tz, duration, markets, marquee, scorer):
    drafts = []
    for i, (home, away) in enumerate(pairs):
        kickoff = times[i % len(times)]
        hs, aw = scorer(rng)
        drafts.append(
            Draft(
                sport,
                competition,
                home,
                away,
                kickoff,
                duration,
                markets,
                marquee(i),
                hs,
                aw,
                "us",
                "us",
            )
        )
    return drafts


def _basket_score(rng):
    home = int(rng.gauss(114, 11))
    away = int(rng.gauss(111, 11))
    return (home, away + 3) if home == away else (home, away)


def basketball(start: dt.date, end: dt.date, seed: int) -> list[Draft]:
    nba_markets = ("IT", "ES", "JP", "CA", "BR", "GB")
    el_markets = ("DE", "IT", "ES", "GB")
    per_weekday = (7, 5, 9, 4, 8, 7, 7)
    drafts: list[Draft] = []
    for day in _days(start, end):
        rng = py_rng(seed, "basketball", day.isoformat())
        slots = [_utc(day, h, m, NY) for h, m in ((19, 0), (19, 30), (20, 0), (22, 0), (22, 30))]
        count, marquee = 0, False
        if _in_window(day, (10, 22), (4, 13)):
            count = per_weekday[day.weekday()]
            marquee = (day.month, day.day) == (12, 25)
        elif _in_window(day, (4, 19), (5, 3)):
            count = 4
        elif _in_window(day, (5, 4), (5, 18)):
            count = 2
        elif (
            _in_window(day, (5, 19), (5, 31))
            or _in_window(day, (6, 4), (6, 22))
            and day.toordinal() % 3 == 0
        ):
            count, marquee = 1, True
        if count:
            pairs = _pairings(rng, NBA_TEAMS, count)
            drafts += _team_drafts(
                "basketball",
                "NBA",
                rng,
                pairs,
                slots,
                NY,
                150,
                nba_markets,
                lambda i, m=marquee: m,
                _basket_score,
            )
        el_count, el_marquee = 0, False
        if _in_window(day, (10, 3), (4, 18)) and day.weekday() in (3, 4):
            el_count = 5 if day.weekday() == 3 else 4
        elif _in_window(day, (4, 22), (5, 6)) and day.weekday() in (1, 2):
            el_count = 2
        elif _in_window(day, (5, 23), (5, 25)):
            el_count, el_marquee = 2 if day.day < 25 else 1, True
        if el_count:
            times = [_utc(day, h, m, BERLIN) for h, m in ((18, 45), (20, 0), (20, 45))]
            pairs = _pairings(rng, EUROLEAGUE_TEAMS, el_count)
            drafts += _team_drafts(
                "basketball",
                "EuroLeague",
                rng,
                pairs,
                times,
                BERLIN,
                120,
                el_markets,
                lambda i, m=el_marquee: m,
                _basket_score,
            )
    return drafts


def _nfl_score(rng):
    scores = (3, 6, 7, 10, 13, 14, 17, 20, 21, 23, 24, 27, 28, 30, 31, 34, 35, 38)
    home, away = rng.choice(scores), rng.choice(scores)
    return (home, away + 3) if home == away else (home, away)


def american_football(start: dt.date, end: dt.date, seed: int) -> list[Draft]:
    markets = ("DE", "AT", "CH", "IT", "ES", "JP", "CA", "GB", "BR")
    drafts: list[Draft] = []
    for year in range(start.year - 1, end.year + 1):
        labor_day = dt.date(year, 9, 1) + dt.timedelta(days=(7 - dt.date(year, 9, 1).weekday()) % 7)
        opener = labor_day + dt.timedelta(days=3)  # Thursday
        for week in range(18):
            thursday = opener + dt.timedelta(weeks=week)
            sunday, monday = thursday + dt.timedelta(days=3), thursday + dt.timedelta(days=4)
            slots = [(thursday, 20, 15, True)] + [(sunday, 13, 0, False)] * 9
            slots += [(sunday, 16, 25, False)] * 4 + [
                (sunday, 20, 20, True),
                (monday, 20, 15, True),
            ]
            rng = py_rng(seed, "nfl", year, week)
            pairs = _pairings(rng, NFL_TEAMS, 16)
            for (day, h, m, prime), (home, away) in zip(slots, pairs):
                hs, aw = _nfl_score(rng)
                drafts.append(
                    Draft(
                        "american_football",
                        "NFL",
                        home,
                        away,
                        _utc(day, h, m, NY),
                        200,
                        markets,
                        prime,
                        hs,
                        aw,
                        "us",
                        "us",
                    )
                )
        saturday = opener + dt.timedelta(weeks=18, days=2)
        playoff = [
            (0, 16, 30, 2),
            (1, 13, 0, 3),
            (2, 20, 15, 1),
            (7, 16, 30, 2),
            (8, 15, 0, 2),
            (15, 15, 0, 2),
            (29, 18, 30, 1),
        ]
        rng = py_rng(seed, "nfl-playoffs", year)
        for offset, h, m, count in playoff:
            day = saturday + dt.timedelta(days=offset)
            for j, (home, away) in enumerate(_pairings(rng, NFL_TEAMS, count)):
                hs, aw = _nfl_score(rng)
                kickoff = _utc(day, h, m, NY) - dt.timedelta(hours=3.5 * j)
                drafts.append(
                    Draft(
                        "american_football",
                        "NFL",
                        home,
                        away,
                        kickoff,
                        200 if offset < 29 else 240,
                        markets,
                        True,
                        hs,
                        aw,
                        "us",
                        "us",
                    )
                )
    return [d for d in drafts if start <= d.kickoff_utc.date() < end]


def combat(start: dt.date, end: dt.date, seed: int) -> list[Draft]:
    fighters = _pool("mma", 160)
    boxers = _pool("boxing", 90)
    drafts: list[Draft] = []
    for day in _days(start, end):
        if day.weekday() != 5 or _in_window(day, (12, 22), (1, 5)):
            continue
        week = day.isocalendar()[1]
        if (day + dt.timedelta(days=7)).month == day.month or week % 5:
            rng = py_rng(seed, "mma", day.isoformat())
            numbered = week % 4 == 0
            competition = "UFC" if numbered else "UFC Fight Night"
            picks = rng.sample(range(len(fighters)), 24)
            for bout in range(12):
                a, b = fighters[picks[2 * bout]], fighters[picks[2 * bout + 1]]
                main = bout == 11
                first = _winner_first(rng, picks[2 * bout], picks[2 * bout + 1])
                kickoff = _utc(day, 18, 0, NY) + dt.timedelta(minutes=25 * bout)
                drafts.append(
                    Draft(
                        "mma",
                        competition,
                        a[0],
                        b[0],
                        kickoff,
                        45 if main else 25,
                        ("DE", "AT", "CH", "IT", "ES", "BR"),
                        main and numbered,
                        int(first),
                        int(not first),
                        a[1],
                        b[1],
                    )
                )
        if week % 2 == 0:
            rng = py_rng(seed, "boxing", day.isoformat())
            london = week % 4 == 0
            tz, hour = (LONDON, 19) if london else ("America/Los_Angeles", 17)
            picks = rng.sample(range(len(boxers)), 12)
            for bout in range(6):
                a, b = boxers[picks[2 * bout]], boxers[picks[2 * bout + 1]]
                first = _winner_first(rng, picks[2 * bout], picks[2 * bout + 1])
                kickoff = _utc(day, hour, 0, tz) + dt.timedelta(minutes=40 * bout)
                drafts.append(
                    Draft(
                        "boxing",
                        "Boxing",
                        a[0],
                        b[0],
                        kickoff,
                        50,
                        ("DE", "AT", "CH", "IT", "ES", "JP", "CA", "US", "GB", "BR"),
                        bout == 5 and week % 8 == 0,
                        int(first),
                        int(not first),
                        a[1],
                        b[1],
                    )
                )
    return drafts


def motorsport(start: dt.date, end: dt.date, seed: int) -> list[Draft]:
    gps = (
        ("Bahrain", "Asia/Bahrain"),
        ("Saudi Arabian", "Asia/Riyadh"),
        ("Australian", "Australia/Melbourne"),
        ("Japanese", "Asia/Tokyo"),
        ("Chinese", "Asia/Shanghai"),
        ("Miami", NY),
        ("Emilia Romagna", "Europe/Rome"),
        ("Monaco", "Europe/Monaco"),
        ("Canadian", "America/Toronto"),
        ("Spanish", "Europe/Madrid"),
        ("Austrian", "Europe/Vienna"),
        ("British", LONDON),
        ("Hungarian", "Europe/Budapest"),
        ("Belgian", "Europe/Brussels"),
        ("Dutch", "Europe/Amsterdam"),
        ("Italian", "Europe/Rome"),
        ("Azerbaijan", "Asia/Baku"),
        ("Singapore", "Asia/Singapore"),
        ("United States", "America/Chicago"),
        ("Mexico City", "America/Mexico_City"),
        ("Sao Paulo", "America/Sao_Paulo"),
        ("Las Vegas", "America/Los_Angeles"),
        ("Qatar", "Asia/Qatar"),
        ("Abu Dhabi", "Asia/Dubai"),
    )
    f1_weeks = [w for w in range(10, 50) if w not in (31, 32, 33, 34)][: len(gps)]
    f1_weeks = [w for i, w in enumerate(f1_weeks) if i < 24 and (w % 7 != 3)]
    drafts: list[Draft] = []
    rng = py_rng(seed, "motorsport")
    for sunday in _days(start, end):
        if sunday.weekday() != 6:
            continue
        week = sunday.isocalendar()[1]
        if week in f1_weeks:
            name, tz = gps[f1_weeks.index(week) % len(gps)]
            saturday = sunday - dt.timedelta(days=1)
            for day, hour, session, minutes, marquee in (
                (saturday, 16, "Qualifying", 60, False),
                (sunday, 15, "Race", 120, True),
            ):
                drafts.append(
                    Draft(
                        "motorsport",
                        "Formula 1",
                        f"{name} Grand Prix",
                        session,
                        _utc(day, hour, 0, tz),
                        minutes,
                        ("ES", "JP", "BR", "IT", "CA"),
                        marquee,
                    )
                )
        if 9 <= week <= 46 and week % 2 == 1:
            name, tz = gps[(week * 7) % len(gps)]
            drafts.append(
                Draft(
                    "motorsport",
                    "MotoGP",
                    f"{name} Motorcycle Grand Prix",
                    "Race",
                    _utc(sunday, 14, 0, tz),
                    60,
                    ("IT", "ES", "DE", "AT", "JP"),
                    rng.random() < 0.1,
                )
            )
    return drafts


def darts(start: dt.date, end: dt.date, seed: int) -> list[Draft]:
    players = _pool("darts", 128)
    markets = ("DE", "AT", "CH", "GB")
    drafts: list[Draft] = []

    def bouts(day, rng, count, hour, tz, competition, marquee_last=0, gap=35):
        picks = rng.sample(range(len(players)), 2 * count)
        for i in range(count):
            a, b = picks[2 * i], picks[2 * i + 1]
            first = _winner_first(rng, a, b)
            kickoff = _utc(day, hour, 0, tz) + dt.timedelta(minutes=gap * i)
            drafts.append(
                Draft(
                    "darts",
                    competition,
                    players[a][0],
                    players[b][0],
                    kickoff,
                    40,
                    markets,
                    i >= count - marquee_last,
                    7 if first else rng.randint(0, 6),
                    rng.randint(0, 6) if first else 7,
                    players[a][1],
                    players[b][1],
                )
            )

    for day in _days(start, end):
        rng = py_rng(seed, "darts", day.isoformat())
        week = day.isocalendar()[1]
        if _in_window(day, (12, 15), (1, 3)) and (day.month, day.day) not in (
            (12, 24),
            (12, 25),
            (12, 26),
        ):
            final_days = (day.month, day.day) in ((1, 1), (1, 2), (1, 3))
            bouts(day, rng, 3, 13, LONDON, "PDC World Championship", 3 if final_days else 0)
            bouts(day, rng, 3, 19, LONDON, "PDC World Championship", 3 if final_days else 0)
        elif day.weekday() == 3 and 6 <= week <= 22:
            bouts(day, rng, 7, 19, LONDON, "Premier League Darts", 3 if week == 22 else 0, 30)
        elif day.weekday() in (5, 6) and 10 <= week <= 44 and week % 2 == 0:
            count = 16 if day.weekday() == 5 else 15
            bouts(day, rng, count, 12, BERLIN, "European Darts Tour", 0, 30)
    return drafts


GENERATORS = (tennis, basketball, american_football, combat, motorsport, darts)
