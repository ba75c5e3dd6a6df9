"""A real Spark standalone cluster on this machine (a master and workers on 127.0.0.1,
each its own JVM, started from the pyspark installation), and jobs submitted to it with
spark-submit from a built wheel, the way an EMR step receives them.

For the cluster tests and the cluster benchmark; nothing here runs in a pipeline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout}s")


def build_wheel(out: Path, source: Path) -> Path:
    """The fanbase wheel of the checkout ``source``, shipped as a .zip: Spark 3.5 puts
    only .zip/.egg/.jar --py-files on the executors' sys.path; a pure wheel is a zip."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(source)],
        check=True,
    )
    (built,) = out.glob("fanbase-*.whl")
    shipped = built.with_suffix(".zip")
    shipped.write_bytes(built.read_bytes())
    return shipped


@contextmanager
def standalone_cluster(logs: Path, workers: int = 2, cores: int = 1, memory: str = "2g"):
    """Master + ``workers`` workers of ``cores`` cores; yields the master URL. Every
    process is stopped on exit, also on failure."""
    spark_class = str(spark_home() / "bin" / "spark-class")
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1"}
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    master = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
    master += ["--port", str(port), "--webui-port", str(free_port())]
    commands = [master] + [
        [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1"]
        + ["--cores", str(cores), "--memory", memory, "--webui-port", str(free_port())]
        + ["--work-dir", str(logs / f"work{i}"), master_url]
        for i in range(workers)
    ]
    procs: list[subprocess.Popen] = []
    try:
        for i, cmd in enumerate(commands):
            with open(logs / f"proc{i}.log", "w") as log_file:
                procs.append(
                    subprocess.Popen(
                        cmd,
                        env=env,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            if i == 0:
                _wait_for(lambda: _port_open(port), 60, "spark master")

        def _registered() -> bool:
            return (logs / "proc0.log").read_text().count("Registering worker") >= workers

        _wait_for(_registered, 90, f"{workers} workers")
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


def submit(
    master: str,
    jars: list[str],
    wheel: Path,
    job: str,
    cwd: Path,
    home: Path,
    *argv: str,
    executors: int = 2,
    executor_memory: str = "1g",
    driver_memory: str = "2g",
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """spark-submit a job file taken out of the wheel (nothing from the source tree),
    one core per executor, with ``FANBASE_HOME=home``."""
    entry = cwd / f"{job}.py"
    with zipfile.ZipFile(wheel) as zf:
        entry.write_bytes(zf.read(f"fanbase/jobs/{job}.py"))
    env = {
        **os.environ,
        "FANBASE_HOME": str(home),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    command = [
        str(spark_home() / "bin" / "spark-submit"),
        "--master",
        master,
        "--deploy-mode",
        "client",
        "--total-executor-cores",
        str(executors),
        "--executor-cores",
        "1",
        "--executor-memory",
        executor_memory,
        "--driver-memory",
        driver_memory,
        "--conf",
        "spark.ui.enabled=false",
        "--jars",
        ",".join(jars),
        "--py-files",
        str(wheel),
        str(entry),
        *argv,
    ]
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
