"""The model catalog: the committed demo catalog loads, and each kind of analyst mistake
gives one message naming the file, the model and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fanbase.config import load_settings
from fanbase.featurestore import declared_groups
from fanbase.models.catalog import CatalogError, load_catalog

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def known() -> dict[str, list[str]]:
    return {g.name: g.feature_names for g in declared_groups(load_settings("local").features)}


def _conf(tmp_path: Path, models_yaml: str) -> Path:
    conf = tmp_path / "conf"
    (conf / "models").mkdir(parents=True, exist_ok=True)
    (conf / "models" / "catalog.yml").write_text("files: [mine.yml]\n")
    (conf / "models" / "mine.yml").write_text(models_yaml)
    return conf


BASE = """
models:
  - name: m1
    kind: churn
    features: [engagement]
    algorithm: {name: gbt}
    output: gold.churn_scores
"""


def test_the_committed_catalog_loads_and_resolves_groups_to_features(known):
    entries = load_catalog(REPO / "conf", known)
    by_name = {e.name: e for e in entries}
    assert {"churn_by_market", "churn_all_markets_logistic", "segments_by_market"} <= set(by_name)
    logistic = by_name["churn_all_markets_logistic"]
    assert "failed_payments_30d" in logistic.features
    assert "favourite_competition_in_season" in logistic.features
    assert len(logistic.features) == len(set(logistic.features))
    # A group name expands to all its features, in declared order.
    gbt = by_name["churn_gbt_by_market"]
    assert gbt.features[: len(known["engagement"])] == known["engagement"]
    # The demo catalog trains at least 30 models: three churn entries and the
    # segmentation per market (10 demo markets), plus one global model.
    per_market = [e for e in entries if e.partition_by == ["market"]]
    assert len(per_market) * 10 + len(entries) - len(per_market) >= 30


def test_a_minimal_entry_gets_defaults(tmp_path, known):
    (entry,) = load_catalog(_conf(tmp_path, BASE), known)
    assert entry.active and entry.label.horizon_days == 30 and entry.partition_by == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("kind: churn", "kind: chrun"),
            r"mine\.yml: model 'm1' \(models\[0\]\): unknown kind 'chrun'; did you mean 'churn'",
        ),
        (
            ("features: [engagement]", "features: [watch_hour_28d]"),
            r"unknown feature or group 'watch_hour_28d'; did you mean 'watch_hours_28d'",
        ),
        (
            ("features: [engagement]", "features: [engagement.live_share_7d]"),
            r"group engagement has no feature 'live_share_7d'",
        ),
        (
            ("features: [engagement]", "features: [engagment.watch_hours_7d]"),
            r"unknown feature group 'engagment'; did you mean 'engagement'",
        ),
        (
            ("{name: gbt}", "{name: kmeans}"),
            r"key 'algorithm.name': 'kmeans' is not an algorithm for kind churn",
        ),
        (
            (
                "output: gold.churn_scores",
                "output: gold.churn_scores\n    gates: {silhouette: {min: 0.1}}",
            ),
            r"key 'gates.silhouette': not a metric of kind churn",
        ),
        (
            (
                "output: gold.churn_scores",
                "output: gold.churn_scores\n    gates: {brier: {min: 0.1}}",
            ),
            r"lower is better for brier, so its gate needs `max`",
        ),
        (
            ("output: gold.churn_scores", "output: gold.churn_scores\n    partiton_by: [market]"),
            r"model 'm1' \(models\[0\]\): unknown key 'partiton_by'",
        ),
        (
            ("output: gold.churn_scores", "output: gold.churn_scores\n    partition_by: [country]"),
            r"key 'partition_by': 'country' is not a feature",
        ),
        (
            ("{name: gbt}", "{name: gbt, grid: {max_depth: [3]}}"),
            r"key 'algorithm.grid.max_depth': not a parameter of gbt; did you mean 'maxDepth'",
        ),
        (
            ("output: gold.churn_scores", "output: gold.churn_scores\n    snapshots: {count: 0}"),
            r"key 'snapshots.count': Input should be greater than or equal to 1",
        ),
        (
            ("output: gold.churn_scores", "output: gold.churn_scores\n    snapshots: {count: 2}"),
            r"key 'snapshots': averaging snapshots is for segmentation",
        ),
        (
            ("    output: gold.churn_scores\n", ""),
            r"model 'm1' \(models\[0\]\): missing key 'output'",
        ),
        (("label", "label"), None),
    ],
)
def test_mistakes_name_the_file_model_and_key(tmp_path, known, change, message):
    text = BASE.replace(*change)
    if message is None:
        load_catalog(_conf(tmp_path, text), known)
        return
    with pytest.raises(CatalogError, match=message):
        load_catalog(_conf(tmp_path, text), known)


def test_an_entry_can_read_any_table_with_its_columns_named(tmp_path, known):
    text = """
models:
  - name: my_set
    kind: churn
    source:
      path: /data/my_set.csv
      format: csv
      label_column: churned
      feature_columns: [age, country, visits]
      categorical_columns: [country]
      time_column: snapshot_date
    partition_by: [country]
    algorithm: {name: logistic_regression}
    output: gold.my_set_scores
"""
    (entry,) = load_catalog(_conf(tmp_path, text), known)
    assert entry.source.format == "csv" and entry.features == []
    with pytest.raises(CatalogError, match=r"source.label_column': kind churn needs a label"):
        load_catalog(_conf(tmp_path, text.replace("      label_column: churned\n", "")), known)
    with pytest.raises(CatalogError, match=r"categorical_columns not in feature_columns"):
        load_catalog(
            _conf(tmp_path, text.replace("[country]\n      time", "[colour]\n      time")), known
        )
    with pytest.raises(CatalogError, match=r"exactly one of `table` or `path`"):
        load_catalog(_conf(tmp_path, text.replace("path:", "table: a.b\n      path:")), known)


def test_duplicate_names_and_a_missing_file_are_errors(tmp_path, known):
    conf = _conf(tmp_path, BASE)
    shutil.copy(conf / "models" / "mine.yml", conf / "models" / "again.yml")
    (conf / "models" / "catalog.yml").write_text("files: [mine.yml, again.yml]\n")
    with pytest.raises(CatalogError, match=r"again\.yml: model 'm1' is already declared in"):
        load_catalog(conf, known)
    (conf / "models" / "catalog.yml").write_text("files: [mine.yml, gone.yml]\n")
    with pytest.raises(CatalogError, match=r"gone\.yml: file not found"):
        load_catalog(conf, known)


SURVIVAL = """
models:
  - name: s1
    kind: survival
    features: [live_share_28d, acquisition_channel]
    partition_by: [market]
    survival: {strata: [plan], groups: [acquisition_channel], censor_reasons: [payment_failed]}
    algorithm: {name: cox}
    gates: {concordance: {min: 0.55}}
    output: gold.hazard_ratios
"""


def test_a_survival_entry_loads_with_its_options(tmp_path, known):
    (entry,) = load_catalog(_conf(tmp_path, SURVIVAL), known)
    assert entry.survival.strata == ["plan"] and entry.survival.episode_days == 7
    assert entry.survival.parametric == ["weibull_aft", "log_logistic_aft"]
    assert entry.survival.censor_reasons == ["payment_failed"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("strata: [plan]", "strata: [plann]"),
            r"model 's1' \(models\[0\]\): key 'survival.strata': 'plann' is not a feature; "
            r"did you mean 'plan'",
        ),
        (
            ("groups: [acquisition_channel]", "groups: [acquisition_chanel]"),
            r"key 'survival.groups': 'acquisition_chanel' is not a feature",
        ),
        (
            ("{name: cox}", "{name: weibull_aft}"),
            r"key 'algorithm.name': 'weibull_aft' is not an algorithm for kind survival",
        ),
        (
            (
                "censor_reasons: [payment_failed]}",
                "censor_reasons: [payment_failed], parametric: [gompertz]}",
            ),
            r"key 'survival.parametric.0': Input should be 'weibull_aft' or 'log_logistic_aft'",
        ),
        (
            ("{concordance: {min: 0.55}}", "{concordance: {max: 0.55}}"),
            r"higher is better for concordance, so its gate needs `min`",
        ),
        (
            ("    features: [live_share_28d, acquisition_channel]\n", ""),
            r"key 'features': name feature groups or features",
        ),
    ],
)
def test_survival_mistakes_name_the_key(tmp_path, known, change, message):
    with pytest.raises(CatalogError, match=message):
        load_catalog(_conf(tmp_path, SURVIVAL.replace(*change)), known)


def test_survival_options_on_another_kind_and_a_source_without_durations_are_errors(
    tmp_path, known
):
    churn = BASE + "    survival: {episode_days: 3}\n"
    with pytest.raises(CatalogError, match=r"key 'survival': only entries of kind survival"):
        load_catalog(_conf(tmp_path, churn), known)
    source = """
models:
  - name: s2
    kind: survival
    source: {path: /data/x.parquet, format: parquet, feature_columns: [a], event_column: e}
    algorithm: {name: kaplan_meier}
    output: gold.survival_curves
"""
    with pytest.raises(CatalogError, match=r"names `duration_column` and `event_column`"):
        load_catalog(_conf(tmp_path, source), known)


ATTRIBUTION = """
models:
  - name: a1
    kind: attribution
    attribution:
      methods: [first_watch, time_decay]
      touch: {first_days: 3, half_life_hours: 12}
      lift: {before_minutes: 90}
    algorithm: {name: touch}
    output: gold.fixture_attribution
"""


def test_an_attribution_entry_loads_with_its_options(tmp_path, known):
    (entry,) = load_catalog(_conf(tmp_path, ATTRIBUTION), known)
    opts = entry.attribution
    assert opts.methods == ["first_watch", "time_decay"] and opts.touch.first_days == 3
    assert opts.lift.before_minutes == 90 and opts.lift.after_minutes == 0
    assert opts.value_model == "survival_by_market"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("methods: [first_watch, time_decay]", "methods: [first_touch]"),
            r"model 'a1' \(models\[0\]\): key 'attribution.methods.0': Input should be "
            r"'first_watch', 'last_live', 'linear' or 'time_decay'",
        ),
        (
            ("{first_days: 3, half_life_hours: 12}", "{first_day: 3}"),
            r"unknown key 'attribution.touch.first_day'",
        ),
        (
            ("{name: touch}", "{name: shapley}"),
            r"key 'algorithm.name': 'shapley' is not an algorithm for kind attribution",
        ),
        (
            ("    algorithm:", "    features: [engagement]\n    algorithm:"),
            r"key 'features': attribution reads the silver subscriptions",
        ),
        (
            ("    algorithm:", "    partition_by: [market]\n    algorithm:"),
            r"key 'partition_by': attribution reads",
        ),
        (
            ("output: gold.fixture_attribution", "output: x\n    gates: {dispersion: {min: 1}}"),
            r"key 'output'",
        ),
        (
            (
                "output: gold.fixture_attribution",
                "output: gold.fixture_attribution\n    gates: {dispersion: {min: 1}}",
            ),
            r"lower is better for dispersion, so its gate needs `max`",
        ),
    ],
)
def test_attribution_mistakes_name_the_key(tmp_path, known, change, message):
    with pytest.raises(CatalogError, match=message):
        load_catalog(_conf(tmp_path, ATTRIBUTION.replace(*change)), known)


def test_attribution_options_on_another_kind_are_an_error(tmp_path, known):
    churn = BASE + "    attribution: {methods: [linear]}\n"
    with pytest.raises(CatalogError, match=r"key 'attribution': only entries of kind attribution"):
        load_catalog(_conf(tmp_path, churn), known)


SOCIAL = """
models:
  - name: s1
    kind: sentiment
    social: {languages: [en, ja], ngrams: 2, min_rows: 20}
    algorithm: {name: naive_bayes, grid: {smoothing: [0.5, 1.0]}}
    gates: {macro_f1: {min: 0.8}}
    output: gold.social_posts_scored
  - name: r1
    kind: sentiment
    source: {path: /data/reviews.csv, format: csv, text_column: review, label_column: mood}
    algorithm: {name: logistic_regression}
    output: gold.review_sentiment
  - name: t1
    kind: topics
    social: {topics: 4}
    algorithm: {name: lda}
    gates: {log_perplexity: {max: 9}}
    output: gold.social_topics
"""


def test_social_entries_load_with_their_options(tmp_path, known):
    s1, r1, t1 = load_catalog(_conf(tmp_path, SOCIAL), known)
    assert s1.social.languages == ["en", "ja"] and s1.social.min_rows == 20
    assert s1.algorithm.grid == {"smoothing": [0.5, 1.0]}
    assert r1.source.text_column == "review" and r1.source.feature_columns == []
    assert r1.social is None  # the job's defaults apply
    assert t1.social.topics == 4 and t1.gates["log_perplexity"].max == 9


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("languages: [en, ja]", "languages: [en, fr]"), r"key 'social.languages.1': Input"),
        (("{name: naive_bayes,", "{name: svm,"), r"'svm' is not an algorithm for kind sentiment"),
        (("{smoothing:", "{regParam:"), r"key 'algorithm.grid.regParam': not a parameter of"),
        (("text_column: review, ", ""), r"model 'r1' \(models\[1\]\): key 'source.text_column'"),
        (("label_column: mood", "time_column: ts"), r"key 'source.label_column': kind sentiment"),
        (
            (
                "    algorithm: {name: lda}",
                "    features: [engagement]\n    algorithm: {name: lda}",
            ),
            r"model 't1' \(models\[2\]\): key 'features': kind topics reads text",
        ),
        (
            ("{log_perplexity: {max: 9}}", "{log_perplexity: {min: 9}}"),
            r"lower is better for log_perplexity, so its gate needs `max`",
        ),
        (("{topics: 4}", "{topics: 1}"), r"key 'social.topics'"),
    ],
)
def test_social_mistakes_name_the_key(tmp_path, known, change, message):
    with pytest.raises(CatalogError, match=message):
        load_catalog(_conf(tmp_path, SOCIAL.replace(*change)), known)


def test_social_options_on_another_kind_and_a_churn_source_without_features_are_errors(
    tmp_path, known
):
    churn = BASE + "    social: {topics: 3}\n"
    with pytest.raises(CatalogError, match=r"key 'social': only sentiment and topics entries"):
        load_catalog(_conf(tmp_path, churn), known)
    source = BASE.replace(
        "    features: [engagement]\n", "    source: {table: a.b, label_column: y}\n"
    )
    with pytest.raises(CatalogError, match=r"key 'source.feature_columns': name the feature"):
        load_catalog(_conf(tmp_path, source), known)


def test_monitor_thresholds_load_and_mistakes_name_the_key(tmp_path, known):
    text = BASE + "    monitor: {max_psi: 0.3, action: alert}\n"
    (entry,) = load_catalog(_conf(tmp_path, text), known)
    assert (entry.monitor.max_psi, entry.monitor.max_decay, entry.monitor.action) == (
        0.3,
        0.05,
        "alert",
    )
    (default,) = load_catalog(_conf(tmp_path, BASE), known)
    assert default.monitor.action == "retrain" and default.digest() != entry.digest()
    bad = BASE + "    monitor: {action: page_someone}\n"
    with pytest.raises(CatalogError, match=r"monitor.action"):
        load_catalog(_conf(tmp_path, bad), known)
    # Cox survival entries are monitored (concordance); Kaplan-Meier ones have no risk
    # score, and attribution no champion to drift.
    survival = SURVIVAL + "    monitor: {max_psi: 0.3}\n"
    (cox,) = load_catalog(_conf(tmp_path, survival), known)
    assert cox.monitor.max_psi == 0.3
    km = survival.replace("{name: cox}", "{name: kaplan_meier}").replace(
        "    gates: {concordance: {min: 0.55}}\n", ""
    )
    with pytest.raises(
        CatalogError, match=r"mine.yml: model .s1. .*key .monitor.: a kaplan_meier entry"
    ):
        load_catalog(_conf(tmp_path, km), known)
    restarts = SURVIVAL.replace("{name: cox}", "{name: cox, restarts: 3}")
    with pytest.raises(CatalogError, match=r"key 'algorithm.restarts': only segmentation"):
        load_catalog(_conf(tmp_path, restarts), known)
    attribution = ATTRIBUTION + "    monitor: {max_psi: 0.3}\n"
    with pytest.raises(CatalogError, match=r"key 'monitor': `fanbase monitor` evaluates kinds"):
        load_catalog(_conf(tmp_path, attribution), known)
