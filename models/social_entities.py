"""Which teams, players, competitions and the service a post mentions.

The dictionary comes from the fixture calendar (the sides of team sports are teams,
the sides of the others players; competitions by name) and the configured service
names. Spark NLP's TextMatcher finds them token by token, case-insensitively, the
longest match winning. Text and names are matched in a plain form: Japanese characters
spaced apart (as in the text models) and everything but letters and digits made a
space, so "Getafe CF相手に" yields Getafe CF, "Dundee FC's" Dundee FC and "1. FC Köln"
is one name however the tokeniser would cut "1.". Players of team squads are in no
reference data: they are not found (the gap is measured against the planted truth).
"""

from __future__ import annotations

import re
from pathlib import Path

from fanbase.models.social_text import CJK

ENTITY_TYPES = ("team", "player", "competition", "service")
# The service's canonical name, whatever the surface ("the fanbase app").
SERVICE = "service"
# Han, hiragana, katakana, the long-vowel mark (as social_text.CJK, for Python's re).
_CJK = re.compile("([\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff])")
PLAIN = (
    f"SELECT *, regexp_replace(regexp_replace(text, '({CJK})', ' $1 '), "
    "'[^\\\\p{L}\\\\p{N}]+', ' ') AS _text FROM __THIS__"
)


def plain(text: str) -> str:
    """A name as the matcher sees it (``PLAIN`` in Python): lower case, Japanese
    characters apart, every run of other than letters and digits one space."""
    spaced = _CJK.sub(r" \1 ", text)
    return " ".join("".join(c if c.isalnum() else " " for c in spaced).split()).lower()


def entity_names(
    sides: list[tuple[str, str]],
    competitions: list[str],
    team_sports: list[str],
    service_names: list[str],
) -> dict[str, list[str]]:
    """Names per entity type from the calendar's (sport, side) pairs and competitions,
    sorted; service names in their configured order (the first is the canonical one).
    A name whose plain form is already taken keeps its first type (team, player,
    competition, service)."""
    teams = sorted({side for sport, side in sides if sport in team_sports})
    players = sorted({side for sport, side in sides if sport not in team_sports})
    found: dict[str, list[str]] = {}
    seen: set[str] = set()
    for kind, names in (
        ("team", teams),
        ("player", players),
        ("competition", sorted(set(competitions))),
        ("service", list(dict.fromkeys(service_names))),
    ):
        keep = []
        for name in names:
            key = plain(name) if name else ""
            if key and key not in seen:
                seen.add(key)
                keep.append(name)
        found[kind] = keep
    return found


def calendar_names(fixtures, team_sports: list[str], service_names: list[str]):
    """``entity_names`` of a silver.fixtures frame (distinct names only are collected:
    they grow with the calendar's teams and players, not with posts)."""
    from pyspark.sql import functions as F

    sides = (
        fixtures.select("sport", F.col("home").alias("side"))
        .union(fixtures.select("sport", F.col("away").alias("side")))
        .distinct()
        .collect()
    )
    competitions = [r[0] for r in fixtures.select("competition").distinct().collect()]
    return entity_names(
        [(r.sport, r.side) for r in sides], competitions, team_sports, service_names
    )


def matcher(spark, names: dict[str, list[str]], workdir: Path):
    """A fitted pipeline adding ``_m_<type>`` chunk columns to a frame with ``text``.
    The phrase files go to ``workdir``; the fitted matchers hold their phrases."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import SQLTransformer
    from sparknlp.annotator import TextMatcher, Tokenizer
    from sparknlp.base import DocumentAssembler
    from sparknlp.common import ReadAs

    stages = [
        SQLTransformer(statement=PLAIN),
        DocumentAssembler().setInputCol("_text").setOutputCol("_document"),
        Tokenizer().setInputCols(["_document"]).setOutputCol("_token"),
    ]
    for kind in ENTITY_TYPES:
        if not names.get(kind):
            continue
        path = Path(workdir) / f"{kind}.txt"
        phrases = sorted({plain(n) for n in names[kind]} - {""})
        path.write_text("".join(f"{n}\n" for n in phrases), encoding="utf-8")
        stages.append(
            TextMatcher()
            .setInputCols(["_document", "_token"])
            .setOutputCol(f"_m_{kind}")
            .setEntities(str(path), ReadAs.TEXT)
            .setCaseSensitive(False)
            .setMergeOverlapping(True)
            .setEntityValue(kind)
        )
    empty = spark.createDataFrame([("",)], "text string")
    return Pipeline(stages=stages).fit(empty)


def with_entities(model, posts, names: dict[str, list[str]]):
    """``posts`` with ``entities``: array of (type, name), canonical names, distinct, by
    type and then in the order found (services under their one canonical name)."""
    from pyspark.sql import functions as F

    canonical = {plain(n): n for k in ENTITY_TYPES if k != SERVICE for n in names.get(k, [])}
    service = names.get("service", [])
    lookup = F.create_map(*[F.lit(x) for pair in canonical.items() for x in pair])
    parts = [
        F.transform(F.col(f"_m_{kind}.result"), _to_entity(kind, lookup, service))
        for kind in ENTITY_TYPES
        if names.get(kind)
    ]
    found = F.array_distinct(F.concat(*parts)) if parts else F.array()
    scored = model.transform(posts)
    drop = [c for c in scored.columns if c.startswith("_")]
    return scored.withColumn("entities", found).drop(*drop)


def _to_entity(kind: str, lookup, service: list[str]):
    """The lambda turning a matched chunk into (type, canonical name)."""
    from pyspark.sql import functions as F

    def entity(chunk):
        if kind == SERVICE:
            # Every service name is the service itself: its first configured name.
            name = F.lit(service[0])
        else:
            name = F.coalesce(F.element_at(lookup, F.lower(chunk)), chunk)
        return F.struct(F.lit(kind).alias("type"), name.alias("name"))

    return entity
