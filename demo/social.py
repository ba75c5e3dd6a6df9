"""Social posts from a listening feed: fans react to results, marquee fixtures and the stream.

Sentiment is driven by the world: a fan of the winner is mostly positive, of the loser
mostly negative; a buffering incident on a fixture in a market brings negative posts
about the service. Every post's true sentiment and mentioned entities go to the truth.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from fanbase.demo.calendar import Fixture
from fanbase.demo.faults import SOCIAL_BAD_KINDS, FaultContext, LandingBuffer, poisson
from fanbase.demo.names import squad
from fanbase.demo.population import DAY_MS
from fanbase.demo.rng import py_rng, stable_bucket
from fanbase.demo.social_templates import SERVICE_NAMES, TEMPLATES
from fanbase.demo.world import World
from fanbase.demo.writer import dumps, iso_ms

SENTIMENTS = ("positive", "neutral", "negative")
PLATFORMS = ("twitter", "instagram", "facebook", "reddit")
PLATFORM_WEIGHTS = (0.45, 0.2, 0.15, 0.2)
MATCH_SHARE = 0.75
INCIDENT_POSTS = 5.0
AUTHORS_PER_MARKET = 3000
TEAM_SPORTS = ("football", "basketball", "american_football")
# P(positive, neutral, negative) by the author's side of the result.
SENTIMENT_BY_OUTCOME = {
    "won": (0.82, 0.12, 0.06),
    "lost": (0.07, 0.15, 0.78),
    "draw": (0.2, 0.55, 0.25),
    "neutral": (0.3, 0.6, 0.1),
}
SERVICE_MOOD = (0.35, 0.4, 0.25)


def market_groups(world: World, shards: int) -> list[list[str]]:
    """Markets per social part file: market i goes to part i % shards."""
    groups: list[list[str]] = [[] for _ in range(min(shards, len(world.markets)))]
    for i, code in enumerate(world.markets):
        groups[i % len(groups)].append(code)
    return groups


def _fixture_weight(f: Fixture) -> float:
    return (4.0 if f.marquee else 1.0) * (1.5 if f.sport == "football" else 1.0)


def _match_rate(world: World) -> float:
    """Expected posts per unit of fixture weight, so the feed averages posts_per_day."""
    total = sum(_fixture_weight(f) * len(f.markets) for f in world.fixtures if f.head_to_head)
    target = MATCH_SHARE * world.settings.social_posts_per_day * world.settings.days
    return target / total if total else 0.0


class SocialSimulator:
    def __init__(self, world: World, part: int, markets: list[str], root: Path):
        s = world.settings
        self.world, self.part, self.markets, self.root = world, part, markets, root
        launched = {c: m.launched_on for c, m in world.markets.items()}
        self.buffer = LandingBuffer(
            source="social",
            root=root,
            shard=part,
            rng=py_rng(s.seed, "social-faults", part),
            rates=s.social_faults,
            bad_kinds=SOCIAL_BAD_KINDS,
            max_late=s.max_late_days,
            ctx_factory=lambda ms: FaultContext(ms, launched, "post_id"),
            id_prefix="p",
        )
        self.rate = _match_rate(world)
        self.counters = {m: 0 for m in markets}
        self.truth_lines: list[bytes] = []
        self.label_lines: list[bytes] = []
        self.total_size = sum(m.size for m in world.markets.values())

    def _author(self, rng, market: str) -> str:
        index = int(rng.paretovariate(1.1)) % AUTHORS_PER_MARKET
        key = f"{self.world.settings.seed}/{market}/{index}".encode()
        return hashlib.sha1(key).hexdigest()[:16]

    def _post(self, rng, market, ts, topic, sentiment, slots, entities, fixture_id) -> None:
        language = self.world.markets[market].language
        template = rng.choice(TEMPLATES[language][topic][sentiment])
        text = template.format(**slots)
        used = [e for e in entities if "{" + e[0] + "}" in template]
        self.counters[market] += 1
        post_id = f"p-{market.lower()}-{self.counters[market]:07d}"
        record = {
            "post_id": post_id,
            "ts": iso_ms(ts),
            "platform": rng.choices(PLATFORMS, PLATFORM_WEIGHTS)[0],
            "market": market,
            "language": language,
            "text": text,
            "author_hash": self._author(rng, market),
        }
        self.buffer.add(ts, self.counters[market], record)
        truth = {
            "post_id": post_id,
            "sentiment": sentiment,
            "topic": topic,
            "market": market,
            "language": language,
            "fixture_id": fixture_id,
            "entities": [
                {"type": kind, "name": name, "surface": surface} for _, kind, name, surface in used
            ],
        }
        self.truth_lines.append(dumps(truth).encode())
        fraction = self.world.settings.label_fraction
        if stable_bucket(post_id, 10_000) < fraction * 10_000:
            self.label_lines.append(dumps({"post_id": post_id, "sentiment": sentiment}).encode())

    def _match_posts(self, rng, market: str, f: Fixture) -> None:
        count = poisson(rng, self.rate * _fixture_weight(f))
        incident = (f.index, market) in self.world.incidents
        for _ in range(count):
            side = rng.choices(("home", "away", "neutral"), (0.45, 0.35, 0.2))[0]
            team, opponent = (f.away, f.home) if side == "away" else (f.home, f.away)
            culture = f.away_culture if side == "away" else f.home_culture
            if side == "neutral" or f.home_score == f.away_score:
                outcome = "neutral" if side == "neutral" else "draw"
            else:
                home_won = f.home_score > f.away_score
                outcome = "won" if home_won == (side == "home") else "lost"
            team_sport = f.sport in TEAM_SPORTS
            player = rng.choice(squad(team, culture)) if team_sport else team
            service = rng.choice(SERVICE_NAMES)
            entities = [
                ("team", "team" if team_sport else "player", team, team),
                ("opponent", "team" if team_sport else "player", opponent, opponent),
                ("competition", "competition", f.competition, f.competition),
                ("service", "service", "fanbase", service),
            ]
            if team_sport:
                entities.append(("player", "player", player, player))
            ts = f.end_ms + int(rng.expovariate(1 / 1_800_000))
            slots = {
                "team": team,
                "opponent": opponent,
                "player": player,
                "competition": f.competition,
                "service": service,
            }
            if incident and rng.random() < 0.5:
                ts = rng.randint(f.kickoff_ms, f.end_ms)
                self._post(rng, market, ts, "service", "negative", slots, entities, f.fixture_id)
                continue
            sentiment = rng.choices(SENTIMENTS, SENTIMENT_BY_OUTCOME[outcome])[0]
            self._post(rng, market, ts, "match", sentiment, slots, entities, f.fixture_id)

    def _service_posts(self, rng, market: str, day_start: int) -> None:
        size = self.world.markets[market].size / self.total_size
        expected = (1 - MATCH_SHARE) * self.world.settings.social_posts_per_day * size
        for _ in range(poisson(rng, expected)):
            service = rng.choice(SERVICE_NAMES)
            entities = [("service", "service", "fanbase", service)]
            sentiment = rng.choices(SENTIMENTS, SERVICE_MOOD)[0]
            ts = day_start + rng.randint(0, DAY_MS - 1)
            self._post(rng, market, ts, "service", sentiment, {"service": service}, entities, None)

    def run(self) -> dict:
        world, s = self.world, self.world.settings
        for day in range(s.days):
            day_start = world.start_ms + day * DAY_MS
            for market in self.markets:
                launched = world.markets[market].launched_on
                if world.date_of_day(day) < launched:
                    continue
                rng = py_rng(s.seed, "social", market, day)
                for indexes in world.live[day][market].values():
                    for index in indexes:
                        f = world.fixtures[index]
                        if f.head_to_head:
                            self._match_posts(rng, market, f)
                self._service_posts(rng, market, day_start)
            self.buffer.flush_until(day)
        self.buffer.flush_all()
        parts = self.root / "_truth" / "_parts"
        parts.mkdir(parents=True, exist_ok=True)
        for name, lines in (("social", self.truth_lines), ("labels", self.label_lines)):
            payload = b"".join(line + b"\n" for line in lines)
            (parts / f"{name}-{self.part:04d}.jsonl.gz").write_bytes(
                gzip.compress(payload, mtime=0)
            )
        return {"stats": self.buffer.stats, "faults": self.buffer.truth}
