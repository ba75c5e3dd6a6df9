"""Proof that fanbase runs distributed: a real standalone master and two workers on
127.0.0.1 (each its own JVM, started from the pyspark installation), the smoke job
submitted with spark-submit and the code shipped as a built wheel, the way an EMR
step receives it. Its Delta output must equal local mode's."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout}s")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
    )
    (built,) = out.glob("fanbase-*.whl")
    # Spark 3.5 puts only .zip/.egg/.jar --py-files on the executors' sys.path; a pure
    # wheel is a zip, so it ships under that name (as the EMR steps do).
    shipped = built.with_suffix(".zip")
    shipped.write_bytes(built.read_bytes())
    return shipped


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """Master + two one-core workers; every process is stopped, also on failure."""
    spark_class = str(_spark_home() / "bin" / "spark-class")
    logs = tmp_path_factory.mktemp("cluster-logs")
    env = {**os.environ, "SPARK_HOME": str(_spark_home()), "SPARK_LOCAL_IP": "127.0.0.1"}
    port, ui = _free_port(), _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    commands = [
        [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui),
        ],
    ] + [
        [
            spark_class,
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            "127.0.0.1",
            "--cores",
            "1",
            "--memory",
            "2g",
            "--webui-port",
            str(_free_port()),
            "--work-dir",
            str(logs / f"work{i}"),
            master_url,
        ]
        for i in range(2)
    ]
    procs: list[subprocess.Popen] = []
    try:
        for i, cmd in enumerate(commands):
            log_file = open(logs / f"proc{i}.log", "w")
            procs.append(
                subprocess.Popen(
                    cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
            if i == 0:
                _wait_for(lambda: _port_open(port), 60, "spark master")

        def _two_workers() -> bool:
            text = (logs / "proc0.log").read_text()
            return text.count("Registering worker") >= 2

        _wait_for(_two_workers, 90, "two workers")
        yield master_url
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _submit(master: str, settings, wheel: Path, job: str, cwd: Path, home: Path, *argv: str):
    """spark-submit a job file taken out of the wheel (nothing from the source tree)."""
    from fanbase.session import local_jars

    entry = cwd / f"{job}.py"
    with zipfile.ZipFile(wheel) as zf:
        entry.write_bytes(zf.read(f"fanbase/jobs/{job}.py"))
    env = {
        **os.environ,
        "FANBASE_HOME": str(home),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_HOME": str(_spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    submit = [
        str(_spark_home() / "bin" / "spark-submit"),
        "--master",
        master,
        "--deploy-mode",
        "client",
        "--total-executor-cores",
        "2",
        "--executor-cores",
        "1",
        "--executor-memory",
        "1g",
        "--conf",
        "spark.ui.enabled=false",
        "--jars",
        ",".join(local_jars(settings.spark)),
        "--py-files",
        str(wheel),
        str(entry),
        *argv,
    ]
    return subprocess.run(submit, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


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
