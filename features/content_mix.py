"""Content mix: which sports and competitions a subscriber watches, and whether the
favourite competition is in season."""

from __future__ import annotations

import re

from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fanbase.features.spec import Aggregate, Feature, FeatureGroup, GroupParams

NAME = "content_mix"
TABLE = "features.content_mix"


class Params(GroupParams):
    # Sports that get their own share column; the rest add up in other_sports_share.
    sports: list[str] = Field(
        default=[
            "football",
            "tennis",
            "basketball",
            "american_football",
            "mma",
            "boxing",
            "darts",
            "motorsport",
        ]
    )
    share_window_days: int = Field(default=28, ge=1)
    favourite_window_days: int = Field(default=90, ge=1)
    # In season: a fixture of the competition within this many days either side.
    in_season_radius_days: int = Field(default=7, ge=0)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def declare(params: Params) -> FeatureGroup:
    s, fw = params.share_window_days, params.favourite_window_days
    total = f"watch_s_{s}d"
    aggregates = [Aggregate(total, "playback", "sum", "watch_seconds", s)]
    features = []
    known = []
    for sport in params.sports:
        column = f"sport_{_slug(sport)}_s_{s}d"
        known.append(f"'{sport}'")
        aggregates.append(
            Aggregate(
                column,
                "playback",
                "sum",
                f"CASE WHEN sport = '{sport}' THEN watch_seconds ELSE 0 END",
                s,
            )
        )
        features.append(
            Feature(
                f"{_slug(sport)}_share_{s}d",
                "double",
                f"share of watch time on {sport} in the {s} days before (0 if none)",
                lambda c=column: F.when(F.col(total) > 0, F.col(c) / F.col(total)).otherwise(0.0),
            )
        )
    other = f"sport_other_s_{s}d"
    listed = ", ".join(known) or "''"
    aggregates.append(
        Aggregate(
            other,
            "playback",
            "sum",
            f"CASE WHEN sport IS NULL OR sport NOT IN ({listed}) THEN watch_seconds ELSE 0 END",
            s,
        )
    )
    features.append(
        Feature(
            f"other_sports_share_{s}d",
            "double",
            f"share of watch time on other sports or non-fixture content in the {s} days before",
            lambda: F.when(F.col(total) > 0, F.col(other) / F.col(total)).otherwise(0.0),
        )
    )
    fav, fav_total = f"top_competition_{fw}d", f"watch_s_{fw}d"
    aggregates += [
        Aggregate(fav, "playback", "top", "watch_seconds", fw, by="competition"),
        Aggregate(fav_total, "playback", "sum", "watch_seconds", fw),
    ]
    features += [
        Feature(
            f"favourite_competition_{fw}d",
            "string",
            f"competition with the most watch time in the {fw} days before (null if none)",
            lambda: F.col(fav),
        ),
        Feature(
            f"favourite_competition_share_{fw}d",
            "double",
            f"share of watch time on that competition in the {fw} days before (0 if none)",
            lambda: F.coalesce(F.col(f"{fav}_value") / F.col(fav_total), F.lit(0.0)),
        ),
        Feature(
            "favourite_competition_in_season",
            "boolean",
            f"a fixture of the favourite competition kicks off within "
            f"{params.in_season_radius_days} days of the as-of date (false if no favourite)",
            lambda: F.coalesce(F.col("_in_season"), F.lit(False)),
        ),
    ]

    def in_season(frame: DataFrame, reference: dict[str, DataFrame]) -> DataFrame:
        r = params.in_season_radius_days
        kickoff = F.to_date("kickoff")
        days = (
            reference["fixtures"]
            .select(
                F.col("competition").alias("_competition"),
                F.explode(F.sequence(F.date_sub(kickoff, r), F.date_add(kickoff, r))).alias("_day"),
            )
            .distinct()
            .withColumn("_in_season", F.lit(True))
        )
        joined = frame.join(
            days,
            (frame[fav] == days["_competition"]) & (frame["as_of_date"] == days["_day"]),
            "left",
        )
        return joined.drop("_competition", "_day")

    return FeatureGroup(
        name=NAME,
        table=TABLE,
        description="Share of watch time by sport, the favourite competition, its share, "
        "and whether it is in season.",
        features=tuple(features),
        aggregates=tuple(aggregates),
        enrich=in_season,
    )
