"""Proof that fanbase runs distributed: a real standalone master and two workers on
127.0.0.1 (each its own JVM, started from the pyspark installation), the smoke job
submitted with spark-submit and the code shipped as a built wheel, the way an EMR
step receives it. Its Delta output must equal local mode's."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    from fanbase.standalone import build_wheel

    return build_wheel(tmp_path_factory.mktemp("dist"), REPO)


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """Master + two one-core workers; every process is stopped, also on failure."""
    from fanbase.standalone import standalone_cluster

    with standalone_cluster(tmp_path_factory.mktemp("cluster-logs")) as master_url:
        yield master_url


def _submit(master: str, settings, wheel: Path, job: str, cwd: Path, home: Path, *argv: str):
    from fanbase.session import local_jars
    from fanbase.standalone import submit

    return submit(master, local_jars(settings.spark), wheel, job, cwd, home, *argv)


def test_smoke_job_on_standalone_cluster_equals_local(
    standalone_cluster, wheel, tmp_path, spark, settings
):
    from fanbase.lakehouse import Lakehouse

    home = tmp_path / "cluster-home"
    done = _submit(standalone_cluster, settings, wheel, "smoke", tmp_path, home, "--rows", "500")
    assert done.returncode == 0, done.stderr[-4000:]
    # spark-submit merges the Python driver's stderr into its stdout.
    output = done.stdout + done.stderr
    ours = "\n".join(line for line in output.splitlines() if " fanbase." in line)
    assert "master=spark://127.0.0.1" in ours, ours[-3000:]
    origins = [line for line in ours.splitlines() if "executor code from:" in line]
    assert origins and "fanbase-0.1.0-py3-none-any.zip/fanbase/__init__.py" in origins[0], origins

    cluster_table = Lakehouse(
        spark, settings.lakehouse.model_copy(update={"root": str(home / "tables")})
    ).read("ops.smoke")

    import argparse

    from fanbase.jobs import smoke
    from fanbase.jobs._runner import add_common_arguments, run_job

    parser = argparse.ArgumentParser()
    smoke.add_arguments(parser)
    add_common_arguments(parser)
    local_home = tmp_path / "local-home"
    run_job(
        smoke,
        parser.parse_args(["--rows", "500", "--set", f"lakehouse.root={local_home}/tables"]),
        spark=spark,
    )
    local_table = Lakehouse(
        spark, settings.lakehouse.model_copy(update={"root": str(local_home / "tables")})
    ).read("ops.smoke")

    assert cluster_table.count() == 500
    assert sorted(cluster_table.collect()) == sorted(local_table.collect())


def test_survival_job_fits_partitions_with_lifelines_on_the_cluster_executors(
    standalone_cluster, wheel, tmp_path, spark, settings
):
    """applyInPandas on two executors running lifelines from the shipped wheel: one Cox
    model per partition of an analyst's own table, equal to lifelines on the driver."""
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi

    from fanbase.lakehouse import Lakehouse

    rossi = load_rossi()
    rossi.to_csv(tmp_path / "rossi.csv", index=False)
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "catalog.yml").write_text("files: [models.yml]\n")
    (catalog / "models.yml").write_text(
        f"""models:
  - name: rossi_by_wexp
    kind: survival
    source:
      path: {tmp_path / "rossi.csv"}
      format: csv
      duration_column: week
      event_column: arrest
      feature_columns: [fin, age, race, mar, paro, prio, wexp]
    partition_by: [wexp]
    algorithm: {{name: cox}}
    output: gold.hazard_ratios
"""
    )
    home = tmp_path / "cluster-home"
    done = _submit(
        standalone_cluster,
        settings,
        wheel,
        "survival",
        tmp_path,
        home,
        "--set",
        f"models.catalog_dir={catalog}",
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    lake = Lakehouse(spark, settings.lakehouse.model_copy(update={"root": str(home / "tables")}))
    rows = lake.read("gold.hazard_ratios").collect()
    assert {r.partition for r in rows} == {"wexp=0", "wexp=1"}
    for value in (0, 1):
        part = rossi[rossi.wexp == value].drop(columns="wexp")
        reference = CoxPHFitter().fit(part, "week", "arrest").params_
        ours = {r.term: r.coef for r in rows if r.partition == f"wexp={value}"}
        assert set(ours) == set(reference.index)
        for term, coef in ours.items():
            assert coef == pytest.approx(reference[term], abs=1e-6)
