"""fanbase: subscriber analytics for sports streaming on Spark, Delta Lake and MLflow."""

from importlib import resources as _resources

__version__ = (_resources.files("fanbase") / "VERSION").read_text().strip()


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout
    (``0.1.0+g1a2b3c4``; ``+dirty`` with uncommitted changes). A wheel has no git."""
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parents[2]
    if not (here / ".git").exists():
        return __version__
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"
