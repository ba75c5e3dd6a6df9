"""Ingest raw event logs (EVENTS.md) into bronze and silver Delta tables.

Validates every line, quarantines bad ones with a reason, de-duplicates with MERGE,
and reconciles: lines read = accepted + duplicates + quarantined, per source, or the
run fails. Idempotent: rerunning any landing dates leaves the same tables.
"""

from __future__ import annotations

import argparse
import datetime as dt

from fanbase.jobs._runner import JobContext, main_for

NAME = "ingest"
HELP = "raw event logs -> bronze, silver and quarantine Delta tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw-root", help="raw root laid out as EVENTS.md (default: raw.root)")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="one landing date")
    parser.add_argument("--from", dest="date_from", type=dt.date.fromisoformat)
    parser.add_argument("--to", dest="date_to", type=dt.date.fromisoformat)
    parser.add_argument(
        "--from-bronze", action="store_true", help="rebuild silver from bronze, not from raw"
    )


def landing_dates(args: argparse.Namespace) -> list[dt.date] | None:
    """The landing dates to process; None means all that exist."""
    if args.date and (args.date_from or args.date_to):
        raise ValueError("give --date or --from/--to, not both")
    if args.date:
        return [args.date]
    if args.date_from or args.date_to:
        if not (args.date_from and args.date_to) or args.date_to < args.date_from:
            raise ValueError("--from and --to must both be given, --from <= --to")
        days = (args.date_to - args.date_from).days
        return [args.date_from + dt.timedelta(days=n) for n in range(days + 1)]
    return None


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    from fanbase.ingest.load import IngestRun

    raw_root = args.raw_root or ctx.config.raw.root
    ingest = IngestRun(ctx.lakehouse, raw_root, ctx.run_id, landing_dates(args), args.from_bronze)
    counts = ingest.run()
    header = f"{'source':<18}{'read':>10}{'accepted':>10}{'dupes':>8}{'quarant.':>10}  ok"
    lines = [header] + [
        f"{c.source:<18}{c.lines_read:>10}{c.accepted:>10}{c.duplicates:>8}"
        f"{c.quarantined:>10}  {'yes' if c.reconciled else 'NO'}"
        for c in counts
    ]
    print("\n".join(lines))
    return {
        "rows_in": sum(c.lines_read for c in counts),
        "rows_out": sum(c.accepted for c in counts),
        "quarantined": sum(c.quarantined for c in counts),
        "duplicates": sum(c.duplicates for c in counts),
    }


if __name__ == "__main__":
    main_for(__name__)
