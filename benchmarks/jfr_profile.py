"""Where a Spark job's JVM spends its CPU: a summary of a Java Flight Recorder file.

Record a job (the driver JVM runs the executors too in local mode), then summarize:

    cp -r conf /tmp/conf_jfr   # append to spark.driver.extraJavaOptions in local/fanbase.yml:
    #   -XX:StartFlightRecording=settings=profile
    FANBASE_CONF_DIR=/tmp/conf_jfr .venv/bin/fanbase train &
    sleep 60; jcmd $(pgrep -f SparkSubmit) JFR.dump filename=/tmp/train.jfr   # while it runs
    .venv/bin/python benchmarks/jfr_profile.py /tmp/train.jfr [--thread "Executor task"]

Dump with jcmd while the job runs: PySpark ends the JVM without the orderly exit that
JFR's own dump-on-exit needs, so a recording written at exit comes out empty.

Prints the samples per thread kind (executor tasks, py4j driver threads, the DAG
scheduler...), then for the chosen threads the hottest methods, by their own samples
and with their callees. Samples are proportional to CPU time, not equal to it.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys

DIGITS = re.compile(r"\d+")
FRAME = re.compile(r"^\s+([\w$.<>]+)\(")


def samples(jfr_file: str):
    """(thread kind, frames innermost first) of every execution sample in the file."""
    jfr = shutil.which("jfr")
    if jfr is None:
        sys.exit("jfr (the JDK's Flight Recorder tool) is not on PATH")
    out = subprocess.run(
        [jfr, "print", "--events", "jdk.ExecutionSample", "--stack-depth", "128", jfr_file],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for block in out.split("jdk.ExecutionSample {")[1:]:
        thread = re.search(r'sampledThread = "([^"]*)"', block)
        kind = DIGITS.sub("N", thread.group(1)) if thread else "?"
        frames = [m.group(1) for m in map(FRAME.match, block.splitlines()) if m]
        yield kind, frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jfr_file")
    parser.add_argument("--thread", default="", help="only threads whose name starts so")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    kinds: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    chosen = 0
    for kind, frames in samples(args.jfr_file):
        kinds[kind] += 1
        if not kind.startswith(args.thread) or not frames:
            continue
        chosen += 1
        own[frames[0]] += 1
        for frame in set(frames):
            inclusive[frame] += 1

    total = sum(kinds.values())
    print(f"{total} samples; by thread:")
    for kind, n in kinds.most_common(12):
        print(f"{n:8} {100 * n / total:5.1f}%  {kind}")
    print(f"\n{chosen} samples of threads starting {args.thread!r}; hottest methods, own:")
    for frame, n in own.most_common(args.top):
        print(f"{n:8} {100 * n / max(chosen, 1):5.1f}%  {frame}")
    print("\nwith their callees (thread entry points and Scala plumbing left out):")
    plumbing = (
        "java.lang.Thread.",
        "java.lang.reflect.",
        "java.util.concurrent.",
        "jdk.internal.",
        "py4j.",
        "scala.",
    )
    shown = 0
    for frame, n in inclusive.most_common():
        if frame.startswith(plumbing) or n == chosen:
            continue
        print(f"{n:8} {100 * n / max(chosen, 1):5.1f}%  {frame}")
        shown += 1
        if shown == args.top:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
