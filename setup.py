"""fanbase: subscriber analytics for sports streaming on Spark, Delta Lake and MLflow.

The repository keeps the agreed top level (jobs/, features/, models/, conf/, demo/)
and installs it as one namespace, ``fanbase.*``, so that a wheel shipped to EMR or
Databricks carries jobs, library code and the committed configuration together.
"""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
VERSION = (HERE / "src" / "fanbase" / "VERSION").read_text().strip()

# The one coherent stack, verified together on Java 17 (see README, "Version matrix").
RUNTIME = [
    "pyspark==3.5.7",
    "delta-spark==3.3.2",
    "spark-nlp==5.5.3",
    "mlflow==3.17.2",
    "lifelines==0.30.3",
    "pandas==2.3.3",
    "pyarrow==25.0.1",
    "numpy==2.4.6",
    "pydantic==2.14.4",
    "PyYAML==6.0.4",
    "matplotlib==3.11.2",
    "scipy==1.17.1",
    "psutil==7.2.2",
    "orjson==3.13.0",
]
DEV = [
    "pytest==9.2.0",
    "ruff==0.17.6",
    "duckdb==2.0.1",
    "deltalake==1.6.6",
    "polars==2.1.0",
    "build==1.6.1",
    "selenium==4.51.0",
]

# Reading the tables without Spark (fanbase.analyst): DuckDB over Delta.
ANALYST = ["duckdb==2.0.1", "deltalake==1.6.6"]

# Top-level folders mapped into the fanbase namespace.
PACKAGE_DIRS = {
    "fanbase": "src/fanbase",
    "fanbase.jobs": "jobs",
    "fanbase.features": "features",
    "fanbase.models": "models",
    "fanbase.demo": "demo",
    "fanbase.report": "report",
    "fanbase.conf": "conf",
}

setup(
    name="fanbase",
    version=VERSION,
    description="Subscriber analytics for sports streaming: Spark, Delta Lake, MLflow",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.12",
    packages=list(PACKAGE_DIRS),
    package_dir=PACKAGE_DIRS,
    package_data={
        "fanbase": ["VERSION"],
        "fanbase.conf": ["*/*.yml"],
        "fanbase.demo": ["data/*/*.json", "data/*/*.md", "data/*.yml"],
        "fanbase.jobs": ["*.py"],
    },
    include_package_data=True,
    install_requires=RUNTIME,
    extras_require={"dev": DEV, "analyst": ANALYST},
    entry_points={"console_scripts": ["fanbase=fanbase.cli:main"]},
)
