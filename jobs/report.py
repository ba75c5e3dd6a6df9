"""The analyst report: one self-contained HTML page (``report.html``) with survival
curves, hazard ratios, churn lift and calibration, segment profiles, the fixtures that
bring subscribers in each market and social sentiment with its spikes, plus the newest
pipeline run; every figure is also a PNG in ``figures/`` beside it.

It reads gold and ops tables only, each pinned at one version (listed on the page and in
``ops.job_runs``). A table no job has written yet leaves its section saying which job
writes it. Rerunning replaces the page and the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fanbase.jobs._runner import JobContext, main_for

NAME = "report"
HELP = "write the analyst report: one HTML page with every plot, and each plot as a PNG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", help="folder for the report (report.out_dir)")


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    from fanbase.report import page
    from fanbase.report.sections import SECTIONS, Inputs

    opts = ctx.config.report
    where = args.out or opts.out_dir
    if "://" in where or where.startswith("dbfs:"):
        raise ValueError(
            f"report.out_dir {where}: the report is written with local file I/O; give a local "
            "folder (on Databricks the /dbfs/... form of a DBFS path)"
        )
    out = Path(where)
    inputs = Inputs(ctx.lakehouse)
    sections = []
    for build in SECTIONS:
        section = build(inputs, opts)
        ctx.log.info(
            "section %s: %d figures, %d tables%s",
            section.key,
            len(section.figures),
            len(section.tables),
            f" ({section.empty})" if section.empty else "",
        )
        sections.append(section)

    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # a rerun leaves only this run's figures
        old.unlink()
    images = {}
    for section in sections:
        for name, _, fig in section.figures:
            images[name] = page.png_bytes(fig)
            (folder / f"{name}.png").write_bytes(images[name])
    read = {t: v for t, v in inputs.versions.items() if v is not None}
    context = f"{ctx.config.env} lakehouse {ctx.config.lakehouse.root}; tables read: " + ", ".join(
        f"{t} v{v}" for t, v in sorted(read.items())
    )
    html = page.render(sections, images, "fanbase analyst report", context)
    target = out / "report.html"
    partial = target.with_suffix(".html.partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(target)  # readers never see half a page
    empty = [s.key for s in sections if s.empty]
    ctx.log.info(
        "report: %s (%d figures; empty sections: %s)", target, len(images), empty or "none"
    )
    return {
        "path": str(target),
        "sections": len(sections),
        "figures": len(images),
        "empty_sections": empty,
        "rows_out": len(images),
        "input_tables": read,
    }


if __name__ == "__main__":
    main_for(__name__)
