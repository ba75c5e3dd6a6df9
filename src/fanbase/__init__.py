"""fanbase: subscriber analytics for sports streaming on Spark, Delta Lake and MLflow."""

from importlib import resources as _resources

__version__ = (_resources.files("fanbase") / "VERSION").read_text().strip()
