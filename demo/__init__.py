"""Demo data generator: raw data in the EVENTS.md contract plus the truths it planted.

``generate`` and ``GenerationReport`` are imported lazily, so importing
``fanbase.demo.settings`` (as the config loader does) stays light.
"""

__all__ = ["GenerationReport", "generate"]


def __getattr__(name: str):
    if name in __all__:
        from fanbase.demo import orchestrate

        return getattr(orchestrate, name)
    raise AttributeError(f"module 'fanbase.demo' has no attribute {name!r}")
