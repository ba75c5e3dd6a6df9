"""Every benchmark in one command: writes BENCHMARKS.md and benchmarks/results/all.json.

    .venv/bin/python benchmarks/run_all.py [--tiny] [--users N] [--scales 1,2,4]
        [--no-cluster] [--only NAMES | --render] [--work DIR] [--results DIR] [--markdown FILE]

`make bench` runs it at the demo's size (about two hours on 2 cores). First the whole
pipeline (`fanbase run`) at each size of ``--scales`` with time and memory per step,
and the smallest size again on a standalone cluster (bench_pipeline.py); then the
capability benchmarks, each in its own process, on the 1x size's data: the
generator, ingest against the raw-parse floor, the feature build against DuckDB and
incremental against full, models per minute concurrent against sequential, survival
partitions per minute in applyInPandas against a driver loop, social posts per second,
attribution. Each writes its JSON into ``--results``; this script gathers them with
the machine's description into one JSON and a Markdown table per benchmark.

``--tiny`` is CI's run (tests/test_benchmarks.py): a few hundred subscribers in two
markets over 200 days, one size, no cluster, results into a temporary folder, so
the benchmark code cannot rot; its figures say nothing about performance.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# CI's size: the fewest days the churn entries' test window and label horizon allow, one
# size (a pipeline run costs ~6 min here whatever the size: fixed costs dominate).
TINY = {
    "users": 400,
    "days": 200,
    "scales": "1",
    "set": ["generator.markets=[DE,IT]"],
}
TINY_MODELS = ["--workers", "2", "--model", "churn_by_market"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CI's small run (see above)")
    parser.add_argument("--users", type=int, help="users at 1x (default: the demo's 5000)")
    parser.add_argument("--days", type=int, help="days simulated (default: the demo's 365)")
    parser.add_argument("--scales", help="data sizes for the pipeline (default 1,2,4)")
    parser.add_argument("--no-cluster", action="store_true", help="skip the cluster run")
    parser.add_argument(
        "--only",
        help="comma-separated benchmarks to run; the others' JSON is read from --results "
        "as an earlier run left it (the page says when each was measured)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="run nothing: write the page and all.json from the JSON in --results",
    )
    parser.add_argument("--work", help="folder for the generated homes (default: temporary)")
    parser.add_argument("--results", help="folder for the JSON files")
    parser.add_argument("--markdown", help="the Markdown page to write")
    args = parser.parse_args(argv)

    tiny = TINY if args.tiny else {}
    users = args.users or tiny.get("users")
    days = args.days or tiny.get("days")
    scales = args.scales or tiny.get("scales") or "1,2,4"
    sets = tiny.get("set", [])
    work = Path(args.work or tempfile.mkdtemp(prefix="fanbase-bench-"))
    default_results = work / "results" if args.tiny else HERE / "results"
    results = Path(args.results) if args.results else default_results
    default_markdown = work / "BENCHMARKS.md" if args.tiny else REPO / "BENCHMARKS.md"
    markdown = Path(args.markdown) if args.markdown else default_markdown
    results.mkdir(parents=True, exist_ok=True)

    size = [*(["--users", str(users)] if users else []), *(["--days", str(days)] if days else [])]
    pipeline = [*size, "--scales", scales, "--keep", str(work / "pipeline")]
    pipeline += [f"--set={value}" for value in sets]
    pipeline += [] if (args.no_cluster or args.tiny) else ["--cluster"]
    # The other benchmarks read the pipeline's 1x home (the demo's size), else its smallest.
    sizes = [float(x) for x in scales.split(",")]
    first = work / "pipeline" / f"x{1.0 if 1.0 in sizes else sizes[0]:g}"
    home, raw = ["--home", str(first)], ["--raw", str(first / "raw")]
    tiny_social = ["--scale", "1,2"] if args.tiny else []
    # (name, script, arguments): the pipeline first, the others on one of its homes.
    plan = [
        ("pipeline", "bench_pipeline.py", pipeline),
        ("generator", "bench_generator.py", size),
        ("ingest", "bench_ingest.py", raw),
        ("features", "bench_features.py", raw),
        ("models", "bench_models.py", home + (TINY_MODELS if args.tiny else [])),
        ("survival", "bench_survival.py", home + (["--copies", "2"] if args.tiny else [])),
        # The attribution and social jobs' times are the pipeline's runs of them on the
        # same home, just made.
        ("attribution", "bench_attribution.py", home + ["--job-from-run-log"]),
        ("social", "bench_social.py", home + ["--job-from-run-log"] + tiny_social),
    ]
    only = set(args.only.split(",")) if args.only else {name for name, *_ in plan}
    if args.render:
        only = set()
    unknown = only - {name for name, *_ in plan}
    if unknown:
        parser.error(f"--only: unknown benchmarks {sorted(unknown)}")
    missing = [n for n, *_ in plan if n not in only and not (results / f"{n}.json").is_file()]
    if missing:
        parser.error(f"--only: no earlier results in {results} for {missing}")
    if "pipeline" not in only and only - {"generator"} and not first.is_dir():
        parser.error(f"--only without pipeline reads {first}: give the --work of an earlier run")
    seconds = {}
    for name, script, script_args in plan:
        if name not in only:
            continue
        out = results / f"{name}.json"
        command = [sys.executable, str(HERE / script), *script_args, "--out", str(out)]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=REPO)
        seconds[name] = round(time.perf_counter() - started, 1)

    gathered = {
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tiny": args.tiny,
        "machine": machine(),
        "benchmark_seconds": seconds,
        "measured": {name: _written(results / f"{name}.json") for name, *_ in plan},
        "results": {name: json.loads((results / f"{name}.json").read_text()) for name, *_ in plan},
    }
    (results / "all.json").write_text(json.dumps(gathered, indent=2) + "\n")
    markdown.write_text(render(gathered))
    print(f"wrote {markdown} and {results / 'all.json'}")
    return 0


def _written(path: Path) -> str:
    """When the results were written: the file's time if it differs from the last commit
    of it (a run not committed yet), else that commit's time (a clone gives every file
    the time it was cloned)."""
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    committed = subprocess.run(
        ["git", "log", "-1", "--format=%cI", "--", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", path.name], cwd=path.parent
    ).returncode
    if committed and changed == 0:
        stamp = dt.datetime.fromisoformat(committed).astimezone(dt.UTC)
    return stamp.isoformat(timespec="minutes")


# ---- the page --------------------------------------------------------------------------
def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _met(value, target, higher: bool = True) -> str:
    if value is None or target is None:
        return "-"
    return "yes" if (value >= target if higher else value <= target) else "**no**"


def headline(r: dict) -> list[tuple[str, str, str, str, str, str]]:
    """(benchmark, figure, baseline, ratio, target, met) per row of the summary."""
    rows = []
    g = r["generator"]
    par, ser = g["parallel"], g.get("serial", {})
    rows.append(
        (
            "generator",
            f"{_fmt(par['event_lines_per_second'], 0)} event lines/s ({par['workers']} workers)",
            f"{_fmt(ser.get('event_lines_per_second'), 0)} lines/s (1 worker)",
            f"{_fmt(g.get('speedup'), 2)}x",
            "-",
            "-",
        )
    )
    i = r["ingest"]
    f_, b_ = i["results"]["fanbase"], i["results"]["floor"]
    rows.append(
        (
            "ingest",
            f"{_fmt(f_['lines_per_s'], 0)} lines/s, peak {_fmt(f_['peak_mb'] / 1024, 1)} GB",
            f"raw-parse floor {_fmt(b_['lines_per_s'], 0)} lines/s",
            f"{_fmt(i['ratio_fanbase_to_floor'], 2)}",
            f">= {i['target_ratio']}",
            _met(i["ratio_fanbase_to_floor"], i["target_ratio"]),
        )
    )
    f = r["features"]
    full, duck = f["results"]["spark_full_build"], f["results"]["duckdb_full_build"]
    inc, rebuild = f["results"]["spark_incremental_day"], f["results"]["spark_full_rebuild"]
    rows.append(
        (
            "features, full build",
            f"Spark {_fmt(full['seconds'])} s",
            f"DuckDB {_fmt(duck['seconds'])} s",
            f"{_fmt(f['ratio_spark_full_to_duckdb'], 2)}x the time",
            f"<= {f['targets']['spark_full_to_duckdb']}x",
            _met(f["ratio_spark_full_to_duckdb"], f["targets"]["spark_full_to_duckdb"], False),
        )
    )
    rows.append(
        (
            "features, one new day",
            f"incremental {_fmt(inc['seconds'])} s",
            f"full rebuild {_fmt(rebuild['seconds'])} s",
            f"{_fmt(f['ratio_incremental_to_full_rebuild'], 3)} of the time",
            f"<= {f['targets']['incremental_to_full']}",
            _met(
                f["ratio_incremental_to_full_rebuild"], f["targets"]["incremental_to_full"], False
            ),
        )
    )
    m = r["models"]
    rows.append(
        (
            "models",
            f"{_fmt(m['concurrent']['models_per_minute'], 2)} models/min "
            f"({m['concurrent']['workers']} at once)",
            f"{_fmt(m['sequential']['models_per_minute'], 2)} models/min sequential",
            f"{_fmt(m['speedup'], 2)}x",
            f">= {m['speedup_target']}x",
            _met(m["speedup"], m["speedup_target"]),
        )
    )
    s = r["survival"]
    run = s["runs"][0]
    rows.append(
        (
            "survival",
            f"{_fmt(run['apply_in_pandas']['partitions_per_minute'])} partitions/min "
            "(applyInPandas)",
            f"{_fmt(run['driver_loop']['partitions_per_minute'])} partitions/min (driver loop)",
            f"{_fmt(run['speedup'], 2)}x",
            f">= {s['speedup_target']}x",
            _met(run["speedup"], s["speedup_target"]),
        )
    )
    so = r["social"]
    best = so["throughput"][0]
    rows.append(
        (
            "social",
            f"job {_fmt(so['job']['posts_per_second'])} posts/s (training included"
            + (", in the pipeline's run)" if so["job"].get("from_run_log") else ")"),
            f"scoring alone {_fmt(best['sentiment_posts_per_second'], 0)} posts/s",
            "-",
            "-",
            "-",
        )
    )
    a = r["attribution"]
    entries = ", ".join(f"{k} {_fmt(v['seconds'])} s" for k, v in a["entries"].items())
    entries += " (in the pipeline's run)" if a.get("from_run_log") else ""
    rows.append(("attribution", entries, "-", "-", "-", "-"))
    p = r["pipeline"]
    first = _one_x(p)
    rows.append(
        (
            f"end to end ({first['scale']:g}x)",
            f"{_fmt(first['end_to_end_seconds'] / 60, 1)} min "
            f"(generate {_fmt(first['generate_seconds'])} s + run {_fmt(first['run_seconds'])} s)",
            "-",
            "-",
            "< 10 min",
            _met(first["end_to_end_seconds"], 600.0, False),
        )
    )
    g = p.get("growth")
    if g:
        rows.append(
            (
                "scaling",
                f"run time x{g['run_time_ratio']} for data x{g['data_ratio']}",
                "-",
                "-",
                f"<= x{g['target_time_ratio']}",
                _met(g["run_time_ratio"], g["target_time_ratio"], False),
            )
        )
    c = p.get("cluster")
    if c:
        rows.append(
            (
                "cluster",
                f"standalone {_fmt(c['run_seconds'])} s",
                f"local mode {_fmt(c['local_run_seconds'])} s",
                f"{_fmt(c['ratio_cluster_to_local'], 2)}x the time",
                "-",
                "-",
            )
        )
    return rows


def _one_x(pipeline: dict) -> dict:
    """The pipeline run at 1x (the demo's size unless --users), else the smallest."""
    return next((r for r in pipeline["runs"] if r["scale"] == 1), pipeline["runs"][0])


def _table(header: list[str], rows: list) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]


def render(gathered: dict) -> str:
    r, m = gathered["results"], gathered["machine"]
    p = r["pipeline"]
    first = _one_x(p)
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (benchmarks/run_all.py) on {gathered['written']}"
        + (" with `--tiny`: a toy size, not a measurement." if gathered["tiny"] else "."),
        "",
        f"Machine: {m['cpus']} CPUs, {m['memory_gb']} GB, Python {m['python']}, "
        f"{m['platform']}. Spark local mode unless it says cluster.",
        "",
        f"Data at {first['scale']:g}x: demo data of {first['users']} subscribers over "
        f"{p.get('days') or 365} days, "
        f"{_fmt(first['raw_lines'])} raw lines (events and social posts)"
        + (f"; overrides {', '.join(p['overrides'])}" if p.get("overrides") else "")
        + ". Each benchmark's own JSON is in benchmarks/results/; this page's figures are "
        "in all.json beside them.",
        "",
        "## Summary",
        "",
    ]
    lines += _table(["benchmark", "figure", "baseline", "ratio", "target", "met"], headline(r))
    lines += ["", "## The pipeline per step, at each size", ""]
    steps = [s["step"] for s in p["runs"][0]["steps"]]
    by_run = [{s["step"]: s for s in run["steps"]} for run in p["runs"]]
    header = ["step"]
    for run in p["runs"]:
        x = f"{run['scale']:g}x"
        header += [f"{x} s", f"{x} Python MB", f"{x} heap MB"]
    rows = []
    for step in steps:
        row = [step]
        for runs in by_run:
            s = runs.get(step, {})
            row += [s.get("seconds"), s.get("python_peak_mb"), s.get("jvm_heap_after_gc_mb")]
        rows.append(row)
    lines += _table(header, rows)
    lines += [
        "",
        "Python MB: the driver process's peak resident memory during the step (where a "
        "collect() or toPandas() would land); heap MB: what the JVM still holds after a "
        "full GC at the step's end.",
    ]
    g = p.get("growth")
    if g:
        lines += ["", f"## Growth, {p['runs'][0]['scale']:g}x to {p['runs'][-1]['scale']:g}x", ""]
        lines += [
            f"Data x{g['data_ratio']}, run time x{g['run_time_ratio']}; a step is flagged when "
            f"its time grows more than x{g['target_time_ratio']} or its driver memory grows "
            "by more than 256 MB.",
            "",
        ]
        lines += _table(
            ["step", "seconds small", "seconds large", "time ratio", "Python growth MB",
             "JVM retained growth MB", "flag"],
            [
                [s["step"], s["seconds_small"], s["seconds_large"], s["time_ratio"],
                 s["python_growth_mb"], s["jvm_retained_growth_mb"],
                 "; ".join(s["reasons"]) or "ok"]
                for s in g["steps"]
            ],
        )  # fmt: skip
    c = p.get("cluster")
    if c:
        lines += ["", "## Standalone cluster against local mode", ""]
        lines += [f"{c['master']}, spark-submit with the built wheel; the same raw data.", ""]
        lines += _table(
            ["step", "cluster s", "local s"],
            [[s["step"], s["cluster_seconds"], s["local_seconds"]] for s in c["steps"]],
        )
    lines += ["", "## When each was measured", ""]
    lines += _table(
        ["benchmark", "results written", "seconds it took in this run"],
        [
            [name, gathered["measured"][name], gathered["benchmark_seconds"].get(name)]
            for name in gathered["results"]
        ],
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
