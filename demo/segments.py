"""Latent viewer segments: each has its own content, device and mode mix and viewing rhythm.

The mixes are far apart on purpose so a clustering of 28-day behaviour features
(watch hours, mode shares, device shares, sport shares) can recover the segments.
"""

from __future__ import annotations

from dataclasses import dataclass

from fanbase.demo.calendar import SPORTS
from fanbase.demo.settings import SEGMENTS

MODES = ("live", "catchup", "highlights")
DEVICES = ("tv", "mobile", "web", "tablet", "console")
CHANNELS = ("organic", "paid_social", "search", "partner", "referral")
PLANS = ("monthly", "annual")

# Evening-heavy local-hour profile, a commuter profile and a spread-out profile.
_EVENING = (0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 4, 6, 8, 10, 9, 6, 3)
_COMMUTER = (0, 0, 0, 0, 0, 1, 4, 9, 9, 3, 1, 2, 5, 3, 1, 1, 3, 8, 9, 4, 2, 2, 1, 1)
_SPREAD = (1, 0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 4, 5, 4, 4, 4, 4, 5, 6, 6, 6, 5, 4, 2)


@dataclass(frozen=True)
class Segment:
    name: str
    sessions_per_day: float
    weekend_factor: float
    modes: tuple[float, ...]  # over MODES
    devices: tuple[float, ...]  # over DEVICES
    sports: tuple[float, ...]  # over calendar.SPORTS
    hours: tuple[int, ...]  # local-hour weights for catchup/highlights/app opens
    follow_team: float  # chance to watch the favourite team's fixture live
    follow_marquee: float  # chance to watch a marquee fixture live in its sport mix
    app_opens_per_day: float
    annual_share: float
    channels: tuple[float, ...]  # over CHANNELS


SEGMENT_PROFILES = {
    s.name: s
    for s in (
        Segment(
            "football_diehard",
            0.45,
            1.8,
            (0.74, 0.2, 0.06),
            (0.66, 0.16, 0.08, 0.04, 0.06),
            (0.9, 0.02, 0.02, 0.02, 0.015, 0.01, 0.01, 0.005),
            _EVENING,
            0.85,
            0.25,
            0.25,
            0.45,
            (0.45, 0.1, 0.25, 0.05, 0.15),
        ),
        Segment(
            "casual_highlights",
            0.55,
            1.2,
            (0.06, 0.1, 0.84),
            (0.06, 0.64, 0.24, 0.05, 0.01),
            (0.35, 0.15, 0.15, 0.1, 0.08, 0.05, 0.06, 0.06),
            _SPREAD,
            0.05,
            0.05,
            0.5,
            0.08,
            (0.25, 0.35, 0.2, 0.05, 0.15),
        ),
        Segment(
            "multisport_tv",
            1.05,
            1.5,
            (0.56, 0.38, 0.06),
            (0.52, 0.04, 0.04, 0.04, 0.36),
            (0.16, 0.16, 0.17, 0.16, 0.09, 0.06, 0.1, 0.1),
            _EVENING,
            0.3,
            0.2,
            0.15,
            0.35,
            (0.35, 0.1, 0.25, 0.2, 0.1),
        ),
        Segment(
            "mobile_commuter",
            0.9,
            0.6,
            (0.14, 0.64, 0.22),
            (0.03, 0.78, 0.03, 0.16, 0.0),
            (0.55, 0.1, 0.1, 0.05, 0.08, 0.04, 0.04, 0.04),
            _COMMUTER,
            0.1,
            0.05,
            0.8,
            0.15,
            (0.3, 0.3, 0.2, 0.1, 0.1),
        ),
        Segment(
            "big_event_only",
            0.02,
            1.0,
            (0.9, 0.06, 0.04),
            (0.44, 0.3, 0.18, 0.08, 0.0),
            (0.4, 0.1, 0.05, 0.2, 0.08, 0.12, 0.05, 0.0),
            _EVENING,
            0.0,
            0.6,
            0.05,
            0.05,
            (0.2, 0.35, 0.3, 0.1, 0.05),
        ),
    )
}
BASE_SEGMENT_MIX = {
    "football_diehard": 0.26,
    "casual_highlights": 0.22,
    "multisport_tv": 0.18,
    "mobile_commuter": 0.18,
    "big_event_only": 0.16,
}
# Market tilts of the mix (JP commutes on phones, the US and CA watch many sports, ...).
MARKET_SEGMENT_TILT = {
    "JP": {"mobile_commuter": 1.8},
    "US": {"multisport_tv": 1.6, "football_diehard": 0.6},
    "CA": {"multisport_tv": 1.5},
    "GB": {"football_diehard": 1.3},
    "IT": {"football_diehard": 1.4},
    "BR": {"mobile_commuter": 1.3, "casual_highlights": 1.2},
}
# Segment mix of signups that a marquee fixture brings in, by whether it is football.
FIXTURE_DRIVEN_MIX = {
    True: {"big_event_only": 0.55, "football_diehard": 0.3, "casual_highlights": 0.15},
    False: {"big_event_only": 0.6, "multisport_tv": 0.3, "casual_highlights": 0.1},
}
FIXTURE_DRIVEN_CHANNELS = (0.2, 0.4, 0.3, 0.05, 0.05)
WINBACK_CHANNELS = (0.45, 0.2, 0.15, 0.0, 0.2)

assert tuple(SEGMENT_PROFILES) == SEGMENTS
assert all(len(s.sports) == len(SPORTS) for s in SEGMENT_PROFILES.values())
