"""The planted truths written beside the raw data, under <out>/_truth/ (see demo/README.md)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from fanbase.demo import churn
from fanbase.demo.faults import FlushStats
from fanbase.demo.population import HOUR_MS
from fanbase.demo.world import World
from fanbase.demo.writer import iso_ms, write_jsonl

TRUTH_DIR = "_truth"


def write_reference(world: World, root: Path) -> None:
    write_jsonl(
        root / "reference/fixtures/fixtures.jsonl", (f.reference_row() for f in world.fixtures)
    )
    write_jsonl(
        root / "reference/markets/markets.jsonl",
        (m.reference_row() for m in world.markets.values()),
    )


def _users(world: World):
    for shard, users in enumerate(world.users_by_shard):
        for u in users:
            yield {
                "user_id": u.user_id,
                "market": u.market,
                "segment": u.segment,
                "acquisition_channel": u.channel,
                "plan": u.plan,
                "signup_ts": iso_ms(u.signup_ms),
                "signup_fixture_id": world.fixtures[u.fixture_index].fixture_id
                if u.fixture_index >= 0
                else None,
                "favourite_team": u.favourite_team,
                "favourite_competition": u.favourite_competition,
                "network_quality": round(u.quality, 4),
                "payment_risk": round(u.pay_risk, 4),
                "shard": shard,
            }


def _lifts(world: World):
    for p in world.lifts:
        yield {
            "fixture_id": world.fixtures[p.fixture_index].fixture_id,
            "market": p.market,
            "window_start": iso_ms(p.window_start_ms),
            "window_end": iso_ms(p.window_end_ms),
            "expected_lift": round(p.expected_lift, 6),
            "realised_extra": p.realised_extra,
            "expected_baseline": round(p.expected_baseline, 6),
        }


def _baseline(world: World):
    for market, rates in world.baseline.items():
        for hour, rate in enumerate(rates):
            yield {
                "market": market,
                "hour_start": iso_ms(world.start_ms + hour * HOUR_MS),
                "expected_signups": round(float(rate), 8),
            }


def _concat_parts(parts: Path, prefix: str, count: int, target: Path) -> None:
    """Gzip members concatenate into one valid gzip file, in part order (deterministic)."""
    with target.open("wb") as out:
        for i in range(count):
            part = parts / f"{prefix}-{i:04d}.jsonl.gz"
            if part.exists():
                out.write(part.read_bytes())


def _stats_dict(stats: FlushStats) -> dict:
    return {
        "lines_written": stats.lines,
        "clean_unique_records": stats.clean,
        "duplicate_lines": stats.duplicates,
        "late_lines": stats.late,
        "faulty_lines": dict(sorted(stats.faulty.items())),
    }


def merge_stats(all_stats: list[FlushStats]) -> FlushStats:
    total = FlushStats()
    for s in all_stats:
        total.lines += s.lines
        total.clean += s.clean
        total.duplicates += s.duplicates
        total.late += s.late
        for kind, n in s.faulty.items():
            total.faulty[kind] = total.faulty.get(kind, 0) + n
    return total


def write_truth(world: World, root: Path, event_results, social_results, social_parts: int) -> dict:
    """Write every truth file; returns the summary."""
    truth = root / TRUTH_DIR
    parts = truth / "_parts"
    write_jsonl(truth / "users.jsonl.gz", _users(world), compress=True)
    write_jsonl(truth / "fixture_lift.jsonl", _lifts(world))
    write_jsonl(truth / "signup_baseline.jsonl.gz", _baseline(world), compress=True)
    write_jsonl(
        truth / "incidents.jsonl",
        (
            {"fixture_id": world.fixtures[i].fixture_id, "market": m, "buffering_factor": factor}
            for (i, m), factor in sorted(world.incidents.items())
        ),
    )
    (truth / "churn_model.json").write_text(json.dumps(churn.model_card(), indent=2) + "\n")
    shards = world.settings.shards
    _concat_parts(parts, "churn", shards, truth / "churn_probability.jsonl.gz")
    _concat_parts(parts, "subscriptions", shards, truth / "subscriptions.jsonl.gz")
    _concat_parts(parts, "social", social_parts, truth / "social_posts.jsonl.gz")
    labels = root / "labels/social_sentiment/labels.jsonl"
    labels.parent.mkdir(parents=True, exist_ok=True)
    with labels.open("wb") as out:
        for i in range(social_parts):
            part = parts / f"labels-{i:04d}.jsonl.gz"
            if part.exists():
                out.write(gzip.decompress(part.read_bytes()))
    shutil.rmtree(parts)
    faults = [row for r in event_results for row in r["faults"]]
    faults += [row for r in social_results for row in r["faults"]]
    faults.sort(key=lambda r: (r["source"], r["file"], r["line"]))
    write_jsonl(truth / "faults.jsonl", faults)
    sports: dict[str, int] = {}
    for f in world.fixtures:
        sports[f.sport] = sports.get(f.sport, 0) + 1
    summary = {
        "sources": {
            "events": _stats_dict(merge_stats([r["stats"] for r in event_results])),
            "social": _stats_dict(merge_stats([r["stats"] for r in social_results])),
        },
        # workers is left out: it changes nothing in the output (byte-identical files).
        "settings": json.loads(world.settings.model_dump_json(exclude={"workers"})),
        "seed": world.settings.seed,
        "markets": [m.reference_row() for m in world.markets.values()],
        "fixtures": len(world.fixtures),
        "fixtures_by_sport": dict(sorted(sports.items())),
        "marquee_fixtures": sum(f.marquee for f in world.fixtures),
        "first_signups": sum(len(u) for u in world.users_by_shard),
        "fixture_driven_signups": sum(p.realised_extra for p in world.lifts),
    }
    (truth / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
