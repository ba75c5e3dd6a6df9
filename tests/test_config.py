"""Config: layering, validation messages that name file and key, env references."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from fanbase.config import ConfigError, default_conf_dir, load_settings

pytestmark = pytest.mark.unit


@pytest.fixture()
def conf_dir(tmp_path: Path) -> Path:
    target = tmp_path / "conf"
    shutil.copytree(default_conf_dir(), target, ignore=shutil.ignore_patterns("*.py", "models"))
    return target


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_layers_env_overrides_base_and_command_line_overrides_env(conf_dir, monkeypatch):
    monkeypatch.delenv("FANBASE_HOME", raising=False)
    _write(conf_dir / "local" / "fanbase.yml", "spark:\n  master: local[1]\n  app_name: from-env\n")
    settings = load_settings("local", conf_dir, ["spark.app_name=from-cli"])
    assert settings.spark.master == "local[1]"
    assert settings.spark.app_name == "from-cli"
    # untouched keys keep the base value, and the base's spark.conf map is merged, not replaced
    assert settings.spark.conf["spark.sql.session.timeZone"] == "UTC"
    assert settings.lakehouse.root == "lakehouse/tables"
    assert settings.env == "local"


def test_misspelt_key_names_file_key_and_allowed_keys(conf_dir):
    bad = _write(conf_dir / "local" / "fanbase.yml", "spark:\n  mastr: local[1]\n")
    with pytest.raises(ConfigError) as err:
        load_settings("local", conf_dir)
    message = str(err.value)
    assert str(bad) in message
    assert "unknown key 'spark.mastr'" in message
    assert "expected one of: master, app_name" in message


def test_wrong_type_names_the_file_that_set_it(conf_dir):
    bad = _write(conf_dir / "emr" / "fanbase.yml", "lakehouse:\n  mode: warehouse\n")
    with pytest.raises(ConfigError) as err:
        load_settings("emr", conf_dir)
    message = str(err.value)
    assert message.startswith(f"{bad}: key 'lakehouse.mode'")
    assert "'path' or 'catalog'" in message
    assert "'warehouse'" in message


def test_command_line_mistake_is_attributed_to_the_command_line(conf_dir):
    with pytest.raises(ConfigError, match=r"command line --set: unknown key 'spark.colour'"):
        load_settings("local", conf_dir, ["spark.colour=red"])
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_settings("local", conf_dir, ["spark.master"])


def test_spark_settings_with_dots_are_one_key(conf_dir):
    settings = load_settings(
        "local",
        conf_dir,
        [
            "spark.conf.spark.sql.shuffle.partitions=3",
            "models.sql_conf.spark.sql.adaptive.enabled=true",
        ],
    )
    assert settings.spark.conf["spark.sql.shuffle.partitions"] == "3"
    # The override replaces conf/local's `false` (one key, not a nested map), and
    # YAML's boolean becomes the string Spark wants.
    assert settings.models.sql_conf == {"spark.sql.adaptive.enabled": "true"}


def test_environment_references_and_missing_secret(conf_dir, monkeypatch):
    _write(conf_dir / "local" / "fanbase.yml", "mlflow:\n  tracking_uri: ${TRACKING_SECRET}\n")
    monkeypatch.setenv("TRACKING_SECRET", "http://user:pw@127.0.0.1:5000")
    assert load_settings("local", conf_dir).mlflow.tracking_uri == "http://user:pw@127.0.0.1:5000"
    monkeypatch.delenv("TRACKING_SECRET")
    with pytest.raises(ConfigError, match=r"key 'mlflow.tracking_uri' needs environment variable"):
        load_settings("local", conf_dir)
    monkeypatch.setenv("FANBASE_HOME", "/data/fb")
    assert load_settings("emr", conf_dir).mlflow.tracking_uri != ""
    assert load_settings("local", default_conf_dir()).raw.root == "/data/fb/raw"


def test_unknown_environment_and_missing_base(conf_dir, tmp_path):
    with pytest.raises(
        ConfigError, match=r"unknown environment 'prod'.*\['databricks', 'emr', 'local'\]"
    ):
        load_settings("prod", conf_dir)
    with pytest.raises(ConfigError, match="file not found"):
        load_settings("local", tmp_path)


def test_invalid_yaml_names_the_line(conf_dir):
    _write(conf_dir / "local" / "fanbase.yml", "spark:\n  master: [local\n")
    with pytest.raises(ConfigError, match=r"fanbase.yml: line \d+ is not valid YAML"):
        load_settings("local", conf_dir)


def test_committed_environments_all_load(monkeypatch):
    monkeypatch.setenv("FANBASE_HOME", "/tmp/fanbase-home")
    for env in ("local", "emr", "databricks"):
        settings = load_settings(env)
        assert settings.env == env
    assert load_settings("databricks").mlflow.registry_uri == "databricks-uc"
    assert load_settings("emr").lakehouse.mode == "catalog"


def test_value_settings_check_channels_and_resolve_market_costs(conf_dir):
    bad = _write(
        conf_dir / "local" / "fanbase.yml",
        "value:\n  acquisition_cost: {organic: 0, paid_socail: 40}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_settings("local", conf_dir)
    assert str(err.value).startswith(f"{bad}: key 'value'")
    assert "unknown acquisition channels ['paid_socail']" in str(err.value)
    _write(
        conf_dir / "local" / "fanbase.yml",
        "value:\n  acquisition_cost_by_market: {US: {paid_social: 60}}\n",
    )
    value = load_settings("local", conf_dir).value
    assert value.cost("US", "paid_social") == 60 and value.cost("DE", "paid_social") == 45
    assert value.cost("US", "search") == 35


def test_market_time_zones_are_checked_and_default_to_utc(conf_dir):
    settings = load_settings("local", conf_dir)
    assert settings.markets.timezone("DE") == "Europe/Berlin"
    assert settings.markets.timezone("XX") == "UTC"
    bad = _write(
        conf_dir / "local" / "fanbase.yml", "markets:\n  timezones: {DE: Europe/Berlinn}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_settings("local", conf_dir)
    assert str(err.value).startswith(f"{bad}: key 'markets'")
    assert "unknown time zones {'DE': 'Europe/Berlinn'}" in str(err.value)
