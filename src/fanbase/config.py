"""Layered, validated configuration.

Layers, last wins: ``conf/base/fanbase.yml`` (committed defaults), then
``conf/<env>/fanbase.yml`` (``local``, ``emr``, ``databricks``), then ``--set key=value``
from the command line. Values may read the environment with ``${VAR}`` or
``${VAR:-default}``; that is the only place secrets come from.

Everything is validated before Spark starts. A mistake gives one ``ConfigError`` line
that names the file, the dotted key and what was expected.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from fanbase.demo.settings import GeneratorSettings
from fanbase.features.registry import GROUPS

CONFIG_FILE = "fanbase.yml"
ENVIRONMENTS = ("local", "emr", "databricks")
# Maps whose keys themselves contain dots (Spark settings).
_FREE_FORM_MAPS = {("spark", "conf"), ("models", "sql_conf")}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A configuration mistake, worded for the person who made it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppSettings(_Strict):
    name: str = "fanbase"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class SparkSettings(_Strict):
    master: str = "local[2]"
    app_name: str = "fanbase"
    # Folder of resolved JVM jars (Delta, Spark NLP); filled once by `make setup`.
    jars_dir: str = ".jars"
    # Maven coordinates the jars folder holds; used on clusters that resolve them themselves.
    packages: list[str] = Field(default_factory=list)
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("conf", mode="before")
    @classmethod
    def _spark_values_are_strings(cls, value: Any) -> Any:
        return _spark_strings(value)


def _spark_strings(value: Any) -> Any:
    """YAML reads `4` and `true` as numbers and booleans; Spark wants strings."""
    if isinstance(value, dict):
        return {
            k: (str(v).lower() if isinstance(v, bool) else str(v))
            if isinstance(v, (bool, int, float))
            else v
            for k, v in value.items()
        }
    return value


class LakehouseSettings(_Strict):
    # path: tables live under `root` and are registered by name in each session;
    # catalog: managed catalog tables (Glue, Unity) named `<catalog_prefix><layer>.<table>`.
    mode: Literal["path", "catalog"] = "path"
    root: str = "lakehouse/tables"
    catalog_prefix: str = ""


class RawSettings(_Strict):
    root: str = "lakehouse/raw"


class MlflowSettings(_Strict):
    tracking_uri: str = "sqlite:///lakehouse/mlflow/mlflow.db"
    registry_uri: str | None = None
    artifact_root: str = "lakehouse/mlflow/artifacts"
    experiment: str = "fanbase"


# One config block per feature group, each validated by the group's own Params model.
FeatureGroupsSettings = create_model(
    "FeatureGroupsSettings",
    __base__=_Strict,
    **{name: (module.Params, module.Params()) for name, module in GROUPS.items()},
)


class FeatureStoreSettings(_Strict):
    # Earliest as-of date to snapshot; default: the day after the first day of data.
    first_as_of: dt.date | None = None
    # An incremental run computes up to this many as-of dates by direct window scans;
    # users whose changes reach further back are rebuilt through the dense timeline.
    incremental_max_dates: int = Field(default=14, ge=1)
    groups: FeatureGroupsSettings = FeatureGroupsSettings()  # type: ignore[valid-type]


class ModelSettings(_Strict):
    # Folder holding the catalog (catalog.yml and the files it lists); default: the
    # packaged conf/models. Point it at an analyst's own folder to use theirs.
    catalog_dir: str | None = None
    # Models trained at the same time (threads sharing one SparkSession); also the
    # partitions monitor evaluates and the languages social fits side by side.
    workers: int = Field(default=3, ge=1, le=16)
    # Registered model names are `<registry_prefix>_<entry>[_<partition>]`.
    registry_prefix: str = Field(default="fanbase", pattern=r"^[a-z][a-z0-9_]*$")
    seed: int = 7
    # Spark SQL settings while `fanbase train` fits models (set on the session, put
    # back after): per-partition models are hundreds of tiny queries each.
    sql_conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("sql_conf", mode="before")
    @classmethod
    def _sql_values_are_strings(cls, value: Any) -> Any:
        return _spark_strings(value)


CHANNELS = ("organic", "paid_social", "search", "partner", "referral")


class ValueSettings(_Strict):
    """Customer value from the survival models (``fanbase survival``). Money is in each
    market's own currency, like the prices it multiplies."""

    # Yearly discount rate for lifetime value; payments are discounted by their day.
    discount_rate: float = Field(default=0.08, ge=0, le=1)
    # Share of a payment that is contribution (after content, payment and platform costs).
    margin: float = Field(default=0.35, gt=0, le=1)
    # Value and remaining lifetime look this many days ahead.
    horizon_days: int = Field(default=730, ge=30, le=3650)
    # New subscribers are those whose spell started in the last this many days.
    new_subscriber_days: int = Field(default=90, ge=7)
    # Cost of acquiring one subscriber, per acquisition channel; by_market overrides it.
    acquisition_cost: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(CHANNELS, 0.0))
    acquisition_cost_by_market: dict[str, dict[str, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_channels(self) -> ValueSettings:
        tables = [self.acquisition_cost, *self.acquisition_cost_by_market.values()]
        unknown = sorted({c for t in tables for c in t} - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown acquisition channels {unknown}; expected {list(CHANNELS)}")
        if any(v < 0 for t in tables for v in t.values()):
            raise ValueError("an acquisition cost is negative")
        return self

    def cost(self, market: str, channel: str) -> float | None:
        return self.acquisition_cost_by_market.get(market, {}).get(
            channel, self.acquisition_cost.get(channel)
        )


class MarketSettings(_Strict):
    """Facts about markets the raw data does not carry."""

    # IANA time zone per market: the signup baseline of content attribution models
    # weekday, hour of day and month in local time. A market not listed is read in UTC.
    timezones: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_zones(self) -> MarketSettings:
        bad = {}
        for market, zone in self.timezones.items():
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                bad[market] = zone
        if bad:
            raise ValueError(f"unknown time zones {bad}; use IANA names like Europe/Berlin")
        return self

    def timezone(self, market: str) -> str:
        return self.timezones.get(market, "UTC")


class SocialSettings(_Strict):
    """Social listening (``fanbase social``): what the entity matcher looks for and when a
    day's volume is a spike."""

    # Names of the service itself in posts; each is matched as the entity `service`.
    service_names: list[str] = Field(default_factory=lambda: ["fanbase"], min_length=1)
    # Sports whose fixtures are between teams: their sides are teams; the sides of the
    # others (tennis, boxing, ...) are players.
    team_sports: list[str] = Field(
        default_factory=lambda: ["football", "basketball", "american_football"]
    )
    # A day is a spike when it has at least `spike_min_posts` posts and its score,
    # (posts - usual) / spread, is at least `spike_score`. The usual level is the median
    # of the series' active days in the `baseline_days` before; the spread the larger of
    # their scaled median absolute deviation and sqrt(usual) (Poisson noise). Fewer than
    # `min_history_days` active days before: no usual level, no flag.
    baseline_days: int = Field(default=28, ge=7, le=365)
    min_history_days: int = Field(default=5, ge=1)
    spike_min_posts: int = Field(default=5, ge=1)
    spike_score: float = Field(default=4.0, gt=0)


class MonitorSettings(_Strict):
    """Where `fanbase monitor` sends alerts about flagged models (both off by default).
    The payload is JSON: the run id and each flagged model with its reasons."""

    alert_command: str | None = None  # a shell command; the payload on its stdin
    alert_webhook: str | None = None  # a URL the payload is POSTed to; use ${ENV_VAR}
    alert_timeout_seconds: float = Field(default=30.0, gt=0)


class ReportSettings(_Strict):
    """The analyst report (``fanbase report``): where it goes and how much it shows."""

    # A local folder (on Databricks a /dbfs/... path): report.html and figures/*.png.
    out_dir: str = "lakehouse/reports"
    top_fixtures: int = Field(default=5, ge=1, le=50)  # per market
    social_days: int = Field(default=180, ge=7)  # the newest days of social volume
    max_lines: int = Field(default=12, ge=1, le=40)  # curves per plot; the largest first


class Settings(_Strict):
    env: str = "local"
    app: AppSettings = AppSettings()
    spark: SparkSettings = SparkSettings()
    lakehouse: LakehouseSettings = LakehouseSettings()
    raw: RawSettings = RawSettings()
    mlflow: MlflowSettings = MlflowSettings()
    generator: GeneratorSettings = GeneratorSettings()
    features: FeatureStoreSettings = FeatureStoreSettings()
    models: ModelSettings = ModelSettings()
    value: ValueSettings = ValueSettings()
    markets: MarketSettings = MarketSettings()
    social: SocialSettings = SocialSettings()
    monitor: MonitorSettings = MonitorSettings()
    report: ReportSettings = ReportSettings()


@dataclass(frozen=True)
class _Layer:
    source: str  # a file path or "command line"
    data: dict[str, Any]


def default_conf_dir() -> Traversable:
    """The conf/ folder shipped with the package (the repository's conf/ in a checkout).

    Inside a wheel on a cluster this is a folder in a zip file, so only the
    Traversable API (``/``, ``is_file``, ``read_text``) is used on it.
    """
    return resources.files("fanbase.conf")


def load_settings(
    env: str | None = None,
    conf_dir: str | Path | Traversable | None = None,
    overrides: list[str] | None = None,
) -> Settings:
    """Load base + env + command-line layers and validate them."""
    env = env or os.environ.get("FANBASE_ENV", "local")
    conf_dir = conf_dir or os.environ.get("FANBASE_CONF_DIR") or default_conf_dir()
    if isinstance(conf_dir, str):
        conf_dir = Path(conf_dir)
    if not conf_dir.is_dir():
        raise ConfigError(f"config folder {conf_dir} does not exist")
    layers = [_read_layer(conf_dir / "base" / CONFIG_FILE, required=True)]
    env_dir = conf_dir / env
    if not env_dir.is_dir():
        known = sorted(
            p.name for p in conf_dir.iterdir() if (p / CONFIG_FILE).is_file() and p.name != "base"
        )
        raise ConfigError(f"unknown environment {env!r}: no {env_dir}; expected one of {known}")
    layers.append(_read_layer(env_dir / CONFIG_FILE, required=False))
    layers.append(_Layer("command line --set", _parse_overrides(overrides or [])))

    merged: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for layer in layers:
        resolved = _resolve_env(layer.data, layer.source, ())
        _merge_into(merged, resolved, (), layer.source, origin)
    merged["env"] = env
    try:
        return Settings.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_explain(err, origin, layers[-2].source)) from None


def _read_layer(path: Path | Traversable, required: bool) -> _Layer:
    if not path.is_file():
        if required:
            raise ConfigError(f"{path}: file not found (expected the committed defaults)")
        return _Layer(str(path), {})
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path}:{where} is not valid YAML ({getattr(err, 'problem', err)})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return _Layer(str(path), data)


def _parse_overrides(items: list[str]) -> dict[str, Any]:
    """`a.b.c=value` pairs into a nested dict; values are read as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"command line --set {item!r}: expected key.path=value")
        node = out
        parts = _split_key(key.strip())
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"command line --set {item!r}: {part} is set twice")
        node[parts[-1]] = yaml.safe_load(raw) if raw else ""
    return out


def _split_key(key: str) -> list[str]:
    """Dotted path; below a free-form map (spark.conf) the rest is one key."""
    parts = key.split(".")
    for n in range(len(parts) - 1, 0, -1):
        if tuple(parts[:n]) in _FREE_FORM_MAPS:
            return [*parts[:n], ".".join(parts[n:])]
    return parts


def _resolve_env(node: Any, source: str, path: tuple[str, ...]) -> Any:
    if isinstance(node, dict):
        return {k: _resolve_env(v, source, (*path, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_env(v, source, (*path, str(i))) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def _sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = os.environ.get(name)
            if value is None:
                if default is None:
                    key = ".".join(path)
                    raise ConfigError(
                        f"{source}: key '{key}' needs environment variable {name}, which is not set"
                    )
                return default
            return value

        return _ENV_REF.sub(_sub, node)
    return node


def _merge_into(
    base: dict[str, Any],
    layer: dict[str, Any],
    path: tuple[str, ...],
    source: str,
    origin: dict[tuple[str, ...], str],
) -> None:
    for key, value in layer.items():
        here = (*path, str(key))
        origin[here] = source
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_into(base[key], value, here, source, origin)
        else:
            base[key] = value
            if isinstance(value, dict):
                _record_origin(value, here, source, origin)


def _record_origin(
    node: dict[str, Any], path: tuple[str, ...], source: str, origin: dict[tuple[str, ...], str]
) -> None:
    for key, value in node.items():
        origin[(*path, str(key))] = source
        if isinstance(value, dict):
            _record_origin(value, (*path, str(key)), source, origin)


def _explain(err: ValidationError, origin: dict[tuple[str, ...], str], fallback: str) -> str:
    lines = []
    for issue in err.errors():
        loc = tuple(str(p) for p in issue["loc"])
        source = _source_of(loc, origin) or fallback
        key = ".".join(loc)
        if issue["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'{_allowed_keys(loc)}")
        elif issue["type"] == "missing":
            lines.append(f"{source}: missing key '{key}'")
        else:
            got = issue.get("input")
            lines.append(f"{source}: key '{key}': {issue['msg']} (got {got!r})")
    return "; ".join(lines)


def _source_of(loc: tuple[str, ...], origin: dict[tuple[str, ...], str]) -> str | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in origin:
            return origin[loc[:n]]
    return None


def _allowed_keys(loc: tuple[str, ...]) -> str:
    model: Any = Settings
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        model = field.annotation
    fields = getattr(model, "model_fields", None)
    if not fields:
        return ""
    return f"; expected one of: {', '.join(fields)}"
