"""Social listening without Spark: the spike flag against hand-worked series, the plain
form names are matched in, the entity dictionary, and the held-out metrics."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from fanbase.models.social_daily import flag_spikes
from fanbase.models.social_entities import entity_names, plain
from fanbase.models.social_output import topic_rows
from fanbase.models.social_text import confusion_from_counts

pytestmark = pytest.mark.unit


def _series(posts: list[int], start=dt.date(2025, 3, 1), gaps: dict[int, int] | None = None):
    """Consecutive days from ``start``; ``gaps`` moves day i that many days later."""
    gaps = gaps or {}
    dates = [start + dt.timedelta(days=i + gaps.get(i, 0)) for i in range(len(posts))]
    return pd.DataFrame({"post_date": dates, "posts": posts})


def test_a_burst_over_a_quiet_series_is_a_spike_and_the_next_day_is_not():
    out = flag_spikes(_series([10, 12, 8, 10, 11, 40, 10, 3]), 28, 5, 5, 4.0)
    # Five days of history are needed: the first five have no usual level.
    assert out["usual_posts"][:5].isna().all() and out["spike"][:5].isna().all()
    # Day 5: median 10 of [10, 12, 8, 10, 11]; MAD 1 -> 1.4826 < sqrt(10): spread sqrt(10).
    assert out["usual_posts"][5] == 10
    assert out["spike_score"][5] == pytest.approx(30 / math.sqrt(10))
    assert bool(out["spike"][5]) is True
    # Day 6: median 10.5 with the burst in the window; 10 posts are below it.
    assert out["usual_posts"][6] == 10.5
    assert out["spike_score"][6] == pytest.approx(-0.5 / math.sqrt(10.5))
    assert bool(out["spike"][6]) is False
    # Day 7: three posts are never a spike, whatever the score.
    assert bool(out["spike"][7]) is False


def test_a_wide_spread_of_busy_and_quiet_days_is_not_a_spike():
    # Median 11, every day 9 away: spread 1.4826 x 9 = 13.34 > sqrt(11).
    out = flag_spikes(_series([2, 20, 2, 20, 2, 20, 40]), 28, 5, 5, 4.0)
    assert out["usual_posts"][6] == 11
    assert out["spike_score"][6] == pytest.approx(29 / (1.4826 * 9))
    assert bool(out["spike"][6]) is False


def test_days_older_than_the_window_are_not_history():
    # Day 5 comes 40 days after day 4: nothing in the 28 days before it.
    out = flag_spikes(_series([10, 10, 10, 10, 10, 50], gaps={5: 40}), 28, 5, 5, 4.0)
    assert pd.isna(out["usual_posts"][5]) and pd.isna(out["spike"][5])
    # The window holds exactly the 28 days before: day 28 back counts, day 29 does not.
    edge = flag_spikes(_series([10] * 5 + [50], gaps={5: 23}), 28, 5, 5, 4.0)
    assert edge["usual_posts"][5] == 10  # day 0 is 28 days before day 5
    outside = flag_spikes(_series([10] * 5 + [50], gaps={5: 24}), 28, 5, 5, 4.0)
    assert pd.isna(outside["usual_posts"][5])


def test_the_plain_form_of_names():
    assert plain("1. FC Köln") == "1 fc köln"
    assert plain("Dundee FC's") == "dundee fc s"
    assert plain("FC Twente '65") == "fc twente 65"
    assert plain("Getafe CF相手に") == "getafe cf 相 手 に"
    assert plain("  St.  Mirren FC ") == "st mirren fc"


def test_entity_names_split_sides_by_sport_and_keep_a_name_once():
    names = entity_names(
        [
            ("football", "Real Madrid CF"),
            ("tennis", "Jannik Sinner"),
            ("football", "Real Madrid CF"),
            ("boxing", "real madrid cf"),  # already a team: not also a player
            ("tennis", " "),
            ("tennis", "jannik sinner."),  # the same plain form
        ],
        ["LaLiga", "ATP Finals"],
        ["football", "basketball"],
        ["the fanbase app", "fanbase"],
    )
    assert names == {
        "team": ["Real Madrid CF"],
        "player": ["Jannik Sinner"],
        "competition": ["ATP Finals", "LaLiga"],
        "service": ["the fanbase app", "fanbase"],  # as configured: the first is canonical
    }


def test_confusion_gives_accuracy_and_per_label_f1():
    counts = {("pos", "pos"): 8, ("pos", "neg"): 2, ("neg", "neg"): 9, ("neg", "pos"): 1}
    c = confusion_from_counts(counts, ["neg", "pos"])
    assert c["accuracy"] == pytest.approx(17 / 20)
    # pos: tp 8, predicted 9, actual 10 -> 16/19; neg: tp 9, predicted 11, actual 10.
    assert c["f1"]["pos"] == pytest.approx(16 / 19)
    assert c["f1"]["neg"] == pytest.approx(18 / 21)
    assert c["matrix"]["pos"] == {"neg": 2, "pos": 8}
    assert c["macro_f1"] == pytest.approx((16 / 19 + 18 / 21) / 2)
    # A true label the model never learnt counts against accuracy.
    c = confusion_from_counts({("pos", "pos"): 3, ("odd", "pos"): 1}, ["pos"])
    assert c["accuracy"] == 0.75 and c["rows"] == 4
    # A label absent from the held-out rows and never predicted has no F1 to average.
    c = confusion_from_counts({("neg", "neg"): 5}, ["neg", "pos"])
    assert c["f1"] == {"neg": 1.0, "pos": None} and c["macro_f1"] == 1.0


def test_topic_rows_rank_terms_and_count_posts():
    terms = [{"topic": 0, "terms": ["goal", "win"], "weights": [0.3, 0.2]}]
    assert topic_rows(terms, {0: 7}) == [(0, 1, "goal", 0.3, 7), (0, 2, "win", 0.2, 7)]
    assert topic_rows([{"topic": 1, "terms": ["x"], "weights": [1.0]}], {}) == [(1, 1, "x", 1.0, 0)]
