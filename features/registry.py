"""The feature groups fanbase knows, by name (a whitelist: config can only pick from
these). Adding a group is a module with ``Params`` and ``declare`` plus a line here."""

from __future__ import annotations

from types import ModuleType

from fanbase.features import billing, content_mix, devices, engagement, lifecycle, quality

GROUPS: dict[str, ModuleType] = {
    m.NAME: m for m in (engagement, content_mix, devices, quality, billing, lifecycle)
}
