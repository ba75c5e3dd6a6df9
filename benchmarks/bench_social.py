"""Social listening: posts scored per second on 2 cores by the sentiment pipelines
reloaded from MLflow, the entity matcher, the whole social job, and its accuracy
against the planted sentiment and mentions.

    .venv/bin/python benchmarks/bench_social.py [--home DIR] [--scale 1,4]

``--home``: a FANBASE_HOME with the demo raw data (raw/ with _truth/); default: generate
and ingest the demo year in a temporary one. The job runs first (training every
language's sentiment and topic pipeline and scoring the posts); then the champions are
reloaded from the registry and score the posts again, repeated ``--scale`` times
(copies with new ids), into Spark's ``noop`` sink, so the figure is the pipelines'
throughput, not Delta's.

``--job-from-run-log``: where the home's ``ops.job_runs`` has a successful social job
(run_all.py's pipeline has just run one on the same data), take the job's wall time
from it instead of running the job again; its peak memory is then the pipeline's
per-step figure (BENCHMARKS.md, "The pipeline per step").

Targets (issue 9): sentiment accuracy and macro F1 at least 0.85 on held-out labels;
entity precision and recall at least 0.95 against the planted mentions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakMemory, demo_spark, last_job_run, machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="FANBASE_HOME with the demo raw data")
    parser.add_argument("--scale", default="1,4", help="copies of the posts to score")
    parser.add_argument(
        "--job-from-run-log",
        action="store_true",
        help="reuse the home's newest successful social job run (see above)",
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "social.json"))
    args = parser.parse_args()

    home = Path(args.home or tempfile.mkdtemp(prefix="fanbase-bench-social-"))
    os.environ["FANBASE_HOME"] = str(home)
    os.environ.setdefault("FANBASE_JARS_DIR", str(REPO / ".jars"))

    import sparknlp  # noqa: F401  (reloads Spark NLP stages)
    from pyspark.sql import functions as F

    from fanbase.config import load_settings
    from fanbase.demo import checks
    from fanbase.jobs import social
    from fanbase.jobs._runner import build_parser, run_job
    from fanbase.lakehouse import Lakehouse
    from fanbase.models import social_entities as ents
    from fanbase.models.registry import Registry
    from fanbase.session import build_spark
    from fanbase.tracking import configure_mlflow

    settings = load_settings("local")

    def start():
        session = build_spark(settings.spark, app_name="fanbase-bench-social")
        session.sparkContext.setLogLevel("ERROR")
        return session

    spark = demo_spark(home, start, features=False)
    lake = Lakehouse(spark, settings.lakehouse)
    posts = lake.read("silver.social_posts").select("post_id", "language", "text").persist()
    count = posts.count()
    results: dict = {"machine": machine(), "home": str(home), "posts": count}

    earlier = last_job_run(lake, "social") if args.job_from_run_log else None
    if earlier is not None:
        run_id, seconds, _ = earlier
        peak_gb = None
        print(f"social job: from the run log, run {run_id}", flush=True)
    else:
        with PeakMemory() as peak:
            started = time.perf_counter()
            run_id = run_job(social, build_parser(social).parse_args([]), spark=spark)["run_id"]
            seconds = time.perf_counter() - started
        peak_gb = round(peak.peak / 2**30, 2)
    fitted = lake.read("ops.model_runs").where(
        (F.col("job_run_id") == run_id) & F.col("version").isNotNull()
    )
    languages: dict[str, list[str]] = {}
    for r in fitted.select("entry", "partition").orderBy("entry", "partition").collect():
        languages.setdefault(r.entry, []).append(r.partition.removeprefix("language="))
    results["job"] = {
        "run_id": run_id,
        "from_run_log": earlier is not None,
        "seconds": round(seconds, 1),
        "posts_per_second": round(count / seconds, 1),
        "models": languages,
        "spikes": lake.read("gold.social_daily").where(F.col("spike")).count(),
        "peak_rss_gb": peak_gb,
    }
    print("job", results["job"], flush=True)

    registry = Registry(configure_mlflow(settings.mlflow), settings.models.registry_prefix)
    models = {}
    for language in sorted(r[0] for r in posts.select("language").distinct().collect()):
        loaded = registry.load_champion(f"fanbase_social_sentiment_{language}")
        if loaded is not None:
            models[language] = loaded[0]
    s = settings.social
    names = ents.calendar_names(lake.read("silver.fixtures"), s.team_sports, s.service_names)
    results["throughput"] = []
    with tempfile.TemporaryDirectory() as workdir:
        matcher = ents.matcher(spark, names, Path(workdir))
        for scale in [int(x) for x in args.scale.split(",")]:
            copies = spark.range(scale).withColumnRenamed("id", "copy")
            many = posts.crossJoin(copies).withColumn(
                "post_id", F.concat_ws("#", "post_id", "copy")
            )
            many = many.drop("copy").repartition(4).persist()
            n = many.count()
            row = {"scale": scale, "posts": n}
            started = time.perf_counter()
            for language, model in models.items():
                part = many.where(F.col("language") == language)
                model.transform(part).select("post_id", "predicted").write.format("noop").mode(
                    "overwrite"
                ).save()
            sentiment = time.perf_counter() - started
            started = time.perf_counter()
            ents.with_entities(matcher, many, names).select("post_id", "entities").write.format(
                "noop"
            ).mode("overwrite").save()
            entities = time.perf_counter() - started
            row["sentiment_posts_per_second"] = round(n / sentiment, 1)
            row["entity_posts_per_second"] = round(n / entities, 1)
            results["throughput"].append(row)
            print(row, flush=True)
            many.unpersist()

    scored = lake.read("gold.social_posts_scored")
    truth = checks.social_vs_truth(spark, home / "raw", scored, names)
    truth.pop("topics")
    results["truth"] = truth
    runs = lake.read("ops.model_runs").where(
        (F.col("entry") == "social_sentiment") & (F.col("job_run_id") == run_id)
    )
    results["held_out"] = {r.partition: json.loads(r.metrics) for r in runs.collect() if r.metrics}
    print(json.dumps(truth["entities"]), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
