"""One shard's subscribers, simulated day by day: signups, viewing, billing, churn, win-backs.

Memory stays flat in the number of days: the shard keeps per-user state (28-day rings of
watch, live and buffering seconds) and a landing buffer of at most max_late days.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

from fanbase.demo import churn
from fanbase.demo.calendar import SPORTS
from fanbase.demo.faults import EVENT_BAD_KINDS, FaultContext, LandingBuffer, poisson
from fanbase.demo.population import DAY_MS, HOUR_MS, UserSeed
from fanbase.demo.rng import py_rng
from fanbase.demo.segments import CHANNELS, DEVICES, MODES, SEGMENT_PROFILES, WINBACK_CHANNELS
from fanbase.demo.world import World
from fanbase.demo.writer import dumps, iso_ms

DEVICE_BUFFERING = {"tv": 0.006, "console": 0.005, "web": 0.012, "tablet": 0.012, "mobile": 0.016}
CATCHUP_LAG_DAYS = (1, 2, 3, 4, 5, 6, 7)
CATCHUP_LAG_WEIGHTS = (5, 3, 2, 1.5, 1, 1, 1)
NON_FIXTURE_SHARE = 0.04
REFUND_PROBABILITY = 0.004
WINBACK_BASE = 0.3
CANCEL_REASONS = ("too_expensive", "not_enough_content", "switching_service", None)
RING = 28


class UserState:
    __slots__ = (
        "cancel",
        "channel",
        "device",
        "effective_ms",
        "last_failed_day",
        "next_renewal_ms",
        "plan",
        "promo",
        "rb",
        "retry_ms",
        "rl",
        "rw",
        "s14b",
        "s14w",
        "s28l",
        "s28w",
        "seed",
        "spell",
        "spell_start_ms",
        "status",
        "sub_id",
        "truth_rows",
    )

    def __init__(self, seed: UserSeed):
        self.seed = seed
        self.spell = 0
        self.truth_rows: list[dict] = []
        self.reset_rings()

    def reset_rings(self) -> None:
        self.rw, self.rl, self.rb = [0] * RING, [0] * RING, [0] * RING
        self.s14w = self.s14b = self.s28w = self.s28l = 0


class ShardSimulator:
    def __init__(self, world: World, shard: int, root: Path):
        s = world.settings
        self.world, self.shard, self.root, self.settings = world, shard, root, s
        self.rng = py_rng(s.seed, "shard", shard)
        self.seq = 0
        launched = {c: m.launched_on for c, m in world.markets.items()}
        self.events = LandingBuffer(
            source="events",
            root=root,
            shard=shard,
            rng=py_rng(s.seed, "event-faults", shard),
            rates=s.faults,
            bad_kinds=EVENT_BAD_KINDS,
            max_late=s.max_late_days,
            ctx_factory=lambda ms: FaultContext(ms, launched, "event_id"),
            id_prefix="ev",
        )
        self.pfail = {}
        self.as_of_days = set(range(s.churn_as_of_first_days, s.days, s.churn_as_of_every_days))
        self.churn_rows: list[bytes] = []
        self.churn_path = root / "_truth" / "_parts" / f"churn-{shard:04d}.jsonl.gz"
        shift = s.shift
        self.shift_day = (shift.from_date - s.start_date).days if shift.from_date else None
        self.day_start = 0
        # The simulated period ends here: nothing is emitted after it (the world does
        # not go on for a refund alone, which would stretch the data past its last day).
        self.end_ms = world.start_ms + s.days * DAY_MS

    # ---- output -------------------------------------------------------------------------
    def _emit(self, st: UserState, ts: int, event_type: str, fields: dict) -> int:
        self.seq += 1
        record = {
            "event_id": f"ev-{self.shard:03d}-{self.seq:08d}",
            "event_type": event_type,
            "ts": iso_ms(ts),
            "user_id": st.seed.user_id,
            "market": st.seed.market,
        }
        record.update(fields)
        self.events.add(ts, self.seq, record)
        return self.seq

    # ---- spells -------------------------------------------------------------------------
    def _start_spell(self, st: UserState, ts: int, first: bool) -> None:
        seed, rng = st.seed, self.rng
        st.spell += 1
        st.sub_id = f"s-{seed.user_id[2:]}-{st.spell}"
        if first:
            st.plan, st.channel, st.device, st.promo = (
                seed.plan,
                seed.channel,
                seed.device,
                seed.promo_code,
            )
        else:
            profile = SEGMENT_PROFILES[seed.segment]
            st.plan = "annual" if rng.random() < profile.annual_share * 0.6 else "monthly"
            st.channel = rng.choices(CHANNELS, WINBACK_CHANNELS)[0]
            st.device = rng.choices(DEVICES, profile.devices)[0]
            st.promo = "COMEBACK" if rng.random() < 0.3 else None
        market = self.world.markets[seed.market]
        price = market.monthly_price if st.plan == "monthly" else market.annual_price
        st.status, st.spell_start_ms, st.retry_ms, st.effective_ms = "active", ts, None, None
        st.last_failed_day, st.cancel = -10_000, None
        st.next_renewal_ms = ts + churn.BILLING_PERIOD_DAYS[st.plan] * DAY_MS
        st.reset_rings()
        self._emit(
            st,
            ts,
            "signup",
            {
                "subscription_id": st.sub_id,
                "plan": st.plan,
                "price": price,
                "currency": market.currency,
                "device": st.device,
                "acquisition_channel": st.channel,
                "promo_code": st.promo,
            },
        )
        self._payment(st, ts + rng.randint(2_000, 30_000), price, "succeeded")
        st.truth_rows.append(
            {
                "user_id": seed.user_id,
                "subscription_id": st.sub_id,
                "spell": st.spell,
                "market": seed.market,
                "segment": seed.segment,
                "plan": st.plan,
                "acquisition_channel": st.channel,
                "signup_ts": iso_ms(ts),
                "signup_fixture_id": (
                    self.world.fixtures[seed.fixture_index].fixture_id
                    if first and seed.fixture_index >= 0
                    else None
                ),
                "cancel_ts": None,
                "effective_at": None,
                "cancel_reason": None,
                "churn_kind": None,
            }
        )
        if first and seed.fixture_index >= 0:
            f = self.world.fixtures[seed.fixture_index]
            start = max(ts + rng.randint(60_000, 300_000), f.kickoff_ms)
            start = min(start, f.end_ms - 60_000)
            watch = max(60, (f.end_ms - start) // 1000 - rng.randint(0, 300))
            self._playback(st, start, f.index, "live", st.device, watch)

    def _price(self, st: UserState) -> float:
        market = self.world.markets[st.seed.market]
        return market.monthly_price if st.plan == "monthly" else market.annual_price

    def _payment(self, st, ts, amount, status) -> None:
        currency = self.world.markets[st.seed.market].currency
        self._emit(
            st,
            ts,
            "payment",
            {
                "subscription_id": st.sub_id,
                "amount": amount,
                "currency": currency,
                "status": status,
            },
        )

    def _cancel(self, st, ts, effective_ms, reason, kind) -> None:
        self._emit(
            st,
            ts,
            "cancel",
            {
                "subscription_id": st.sub_id,
                "effective_at": iso_ms(effective_ms) if effective_ms is not None else None,
                "reason": reason,
            },
        )
        row = st.truth_rows[-1]
        row.update(
            cancel_ts=iso_ms(ts),
            cancel_reason=reason,
            churn_kind=kind,
            effective_at=iso_ms(effective_ms if effective_ms is not None else ts),
        )
        st.status = "cancelling"
        st.effective_ms = effective_ms if effective_ms is not None else ts

    # ---- viewing ------------------------------------------------------------------------
    def _playback(self, st, ts, fixture_index, mode, device, watch) -> None:
        seed, world = st.seed, self.world
        ratio = (
            DEVICE_BUFFERING[device] * world.markets[seed.market].buffering_factor * seed.quality
        )
        ratio *= self.rng.lognormvariate(0, 0.6)
        if mode == "live" and fixture_index is not None:
            ratio *= world.incidents.get((fixture_index, seed.market), 1.0)
        if self.shift_day is not None and (ts - world.start_ms) // DAY_MS >= self.shift_day:
            ratio *= self.settings.shift.buffering_factor
        buffering = int(watch * min(ratio, 0.5))
        self._emit(
            st,
            ts,
            "playback",
            {
                "session_id": f"ss-{self.shard:03d}-{self.seq + 1:08d}",
                "fixture_id": world.fixtures[fixture_index].fixture_id
                if fixture_index is not None
                else None,
                "device": device,
                "mode": mode,
                "watch_seconds": int(watch),
                "buffering_seconds": buffering,
            },
        )
        slot = ((ts - world.start_ms) // DAY_MS) % RING
        if (ts - world.start_ms) // DAY_MS == self.today:
            st.rw[slot] += watch
            st.rb[slot] += buffering
            st.s14w += watch
            st.s14b += buffering
            st.s28w += watch
            if mode == "live":
                st.rl[slot] += watch
                st.s28l += watch

    def _local_time(self, market: str, day: int, hours: tuple[int, ...]) -> int:
        hour = self.rng.choices(range(24), hours)[0]
        offset = self.world.offsets[market][day]
        within = int((hour - offset) * HOUR_MS) + self.rng.randint(0, HOUR_MS - 1)
        return self.day_start + within % DAY_MS

    def _pick(self, market: str, day: int, sport: str) -> int | None:
        if day < 0:
            return None
        by_sport = self.world.live[day][market]
        candidates = by_sport.get(sport)
        return self.rng.choice(candidates) if candidates else None

    def _sessions(self, st: UserState, day: int, cutoff: int) -> list[int]:
        seed, rng, world = st.seed, self.rng, self.world
        profile = SEGMENT_PROFILES[seed.segment]
        market = seed.market
        weekend = self.weekday >= 5
        off = world.competition_off.get(seed.favourite_competition)
        off_now = bool(off[day]) if off else False
        rate = (
            profile.sessions_per_day * seed.activity * (profile.weekend_factor if weekend else 1.0)
        )
        rate *= 0.5 if off_now else 1.0
        rate *= 0.6 if st.status == "cancelling" else 1.0
        starts: list[int] = []
        fixtures = world.fixtures
        # The favourite team's fixture, and marquee fixtures, pull viewers in live.
        live_today: list[int] = []
        if seed.favourite_team:
            index = world.team_days.get(seed.favourite_team, {}).get(day)
            if (
                index is not None
                and market in fixtures[index].markets
                and rng.random() < profile.follow_team
            ):
                live_today.append(index)
        top = max(profile.sports)
        for index in world.marquee[day][market]:
            weight = profile.sports[SPORTS.index(fixtures[index].sport)] / top
            if index not in live_today and rng.random() < profile.follow_marquee * weight:
                live_today.append(index)
        for index in live_today:
            f = fixtures[index]
            ts = f.kickoff_ms + rng.randint(-300_000, int(f.duration_minutes * 60_000 * 0.3))
            watch = min(
                (f.end_ms + 600_000 - ts) // 1000,
                int(f.duration_minutes * 60 * rng.uniform(0.45, 1.0)),
            )
            if ts < cutoff:
                device = rng.choices(DEVICES, profile.devices)[0]
                self._playback(st, ts, index, "live", device, max(60, watch))
                starts.append(ts)
        for _ in range(poisson(rng, rate)):
            mode = rng.choices(MODES, profile.modes)[0]
            device = rng.choices(DEVICES, profile.devices)[0]
            index = None
            if rng.random() >= NON_FIXTURE_SHARE:
                for _attempt in range(2):
                    sport = rng.choices(SPORTS, profile.sports)[0]
                    if mode == "live":
                        index = self._pick(market, day, sport)
                        if index is None:
                            mode = "catchup"
                    if mode != "live":
                        lag = rng.choices(CATCHUP_LAG_DAYS, CATCHUP_LAG_WEIGHTS)[0]
                        index = self._pick(
                            market, day - (lag if mode == "catchup" else min(lag, 3)), sport
                        )
                    if index is not None:
                        break
            if index is None and mode == "live":
                mode = "catchup"
            if mode == "live":
                f = fixtures[index]
                ts = f.kickoff_ms + rng.randint(-300_000, int(f.duration_minutes * 60_000 * 0.35))
                watch = min(
                    (f.end_ms + 600_000 - ts) // 1000,
                    int(f.duration_minutes * 60 * rng.uniform(0.3, 1.0)),
                )
            else:
                ts = self._local_time(market, day, profile.hours)
                if index is not None and fixtures[index].end_ms > ts:
                    ts = fixtures[index].end_ms + rng.randint(600_000, 7_200_000)
                if mode == "highlights":
                    watch = rng.randint(90, 900)
                elif index is not None:
                    watch = int(fixtures[index].duration_minutes * 60 * rng.uniform(0.2, 0.9))
                else:
                    watch = rng.randint(300, 2400)
            if ts < cutoff:
                self._playback(st, ts, index, mode, device, max(30, watch))
                starts.append(ts)
        return starts

    def _app_opens(self, st: UserState, day: int, starts: list[int], cutoff: int) -> None:
        rng = self.rng
        profile = SEGMENT_PROFILES[st.seed.segment]
        device = rng.choices(DEVICES, profile.devices)[0]
        if starts and rng.random() < 0.75:
            ts = max(self.day_start, min(starts) - rng.randint(5_000, 180_000))
            self._emit(st, ts, "app_open", {"device": device})
        for _ in range(poisson(rng, profile.app_opens_per_day * 0.5)):
            ts = self._local_time(st.seed.market, day, profile.hours)
            if ts < cutoff:
                self._emit(st, ts, "app_open", {"device": rng.choices(DEVICES, profile.devices)[0]})

    # ---- churn --------------------------------------------------------------------------
    def _covariates(self, st: UserState, day: int) -> churn.Covariates:
        high = int(
            st.s14w >= churn.HIGH_BUFFERING_MIN_WATCH_S
            and st.s14b > churn.HIGH_BUFFERING_RATIO * st.s14w
        )
        live_share = st.s28l / st.s28w if st.s28w > 0 else 0.0
        failed = int(day - 30 <= st.last_failed_day < day)
        off = self.world.competition_off.get(st.seed.favourite_competition)
        return churn.Covariates(high, round(live_share, 6), failed, int(bool(off and off[day])))

    def _p_fail(self, st: UserState) -> float:
        market = self.world.markets[st.seed.market]
        return churn.payment_fail_probability(market.payment_fail_factor, st.seed.pay_risk)

    def _record_churn_probability(self, st: UserState, day: int, x: churn.Covariates) -> None:
        horizon = self.settings.churn_horizon_days
        horizon_end = self.day_start + horizon * DAY_MS
        period = churn.BILLING_PERIOD_DAYS[st.plan] * DAY_MS
        renewals = 0
        if st.next_renewal_ms < horizon_end:
            renewals = 1 + (horizon_end - 1 - st.next_renewal_ms) // period
        p = churn.churn_probability(
            st.plan, x, horizon, renewals, self._p_fail(st), st.retry_ms is not None
        )
        row = {
            "user_id": st.seed.user_id,
            "subscription_id": st.sub_id,
            "as_of_date": self.world.date_of_day(day).isoformat(),
            "horizon_days": horizon,
            "p_churn": round(p, 6),
            "plan": st.plan,
            "segment": st.seed.segment,
            "high_buffering": x.high_buffering,
            "live_share_28d": x.live_share_28d,
            "failed_payment_last_30d": x.failed_payment_last_30d,
            "favourite_competition_off_season": x.favourite_competition_off_season,
            "daily_hazard": round(churn.daily_hazard(x), 8),
        }
        self.churn_rows.append(dumps(row).encode())

    # ---- the day ------------------------------------------------------------------------
    def _rotate(self, st: UserState, day: int) -> None:
        slot, old14 = day % RING, (day - 14) % RING
        st.s14w -= st.rw[old14]
        st.s14b -= st.rb[old14]
        st.s28w -= st.rw[slot]
        st.s28l -= st.rl[slot]
        st.rw[slot] = st.rl[slot] = st.rb[slot] = 0

    def _billing(self, st: UserState, day: int, x: churn.Covariates | None, day_end: int) -> None:
        rng = self.rng
        if st.retry_ms is not None and st.retry_ms < day_end and st.status == "active":
            ts, st.retry_ms = st.retry_ms, None
            if rng.random() < churn.RETRY_SUCCESS:
                self._payment(st, ts, self._price(st), "succeeded")
            else:
                self._payment(st, ts, self._price(st), "failed")
                st.last_failed_day = day
                self._cancel(
                    st, ts + rng.randint(1_000, 60_000), None, "payment_failed", "involuntary"
                )
        if (
            st.status == "active"
            and st.next_renewal_ms < day_end
            and st.next_renewal_ms >= self.day_start
        ):
            ts = st.next_renewal_ms
            if (
                st.plan == "annual"
                and x is not None
                and rng.random() < churn.renewal_cancel_probability(x)
            ):
                when = max(self.day_start, ts - rng.randint(HOUR_MS, 20 * HOUR_MS))
                self._cancel(st, when, ts, rng.choice(CANCEL_REASONS), "voluntary")
                return
            st.next_renewal_ms += churn.BILLING_PERIOD_DAYS[st.plan] * DAY_MS
            if rng.random() < self._p_fail(st):
                self._payment(st, ts, self._price(st), "failed")
                st.last_failed_day = day
                st.retry_ms = ts + rng.randint(1, 3) * DAY_MS + rng.randint(0, 6 * HOUR_MS)
            else:
                self._payment(st, ts, self._price(st), "succeeded")
                if rng.random() < REFUND_PROBABILITY:
                    later = ts + rng.randint(1, 10) * DAY_MS + rng.randint(0, DAY_MS - 1)
                    if later < self.end_ms:
                        self._payment(st, later, self._price(st), "refunded")

    def _voluntary_churn(self, st: UserState, x: churn.Covariates, day_end: int) -> None:
        if st.plan != "monthly" or st.status != "active":
            return
        if self.rng.random() < 1.0 - math.exp(-churn.daily_hazard(x)):
            if x.high_buffering and self.rng.random() < 0.6:
                reason = "technical_issues"
            elif x.favourite_competition_off_season and self.rng.random() < 0.6:
                reason = "season_over"
            else:
                reason = self.rng.choice(CANCEL_REASONS)
            ts = self.rng.randint(self.day_start, day_end - 1)
            self._cancel(st, ts, st.next_renewal_ms, reason, "voluntary")

    def _user_day(self, st: UserState, day: int, new_spell_ms: int | None) -> bool:
        """Simulate one user-day; False once the user has no access any more."""
        day_end = self.day_start + DAY_MS
        self._rotate(st, day)
        x = None
        if new_spell_ms is None:
            x = self._covariates(st, day)
            if st.status == "active" and day in self.as_of_days:
                self._record_churn_probability(st, day, x)
        else:
            self._start_spell(st, new_spell_ms, first=st.spell == 0)
        self._billing(st, day, x, day_end)
        cutoff = st.effective_ms if st.status == "cancelling" else day_end + DAY_MS
        starts = self._sessions(st, day, cutoff)
        self._app_opens(st, day, starts, cutoff)
        if x is not None:
            self._voluntary_churn(st, x, day_end)
        if st.status == "cancelling" and st.effective_ms < day_end:
            self._schedule_winback(st, day)
            return False
        return True

    def _schedule_winback(self, st: UserState, day: int) -> None:
        rng = self.rng
        if rng.random() < WINBACK_BASE * (0.5 + st.seed.winback):
            back = day + 7 + math.ceil(rng.expovariate(1 / 50))
            if back < self.settings.days:
                ts = self.world.start_ms + back * DAY_MS + rng.randint(0, DAY_MS - 1)
                self.waiting.setdefault(back, []).append((ts, st))

    def run(self) -> dict:
        world, s = self.world, self.settings
        users = world.users_by_shard[self.shard]
        next_user = 0
        active: list[UserState] = []
        states: list[UserState] = []
        self.waiting: dict[int, list] = {}
        for day in range(s.days):
            self.today = day
            self.day_start = world.start_ms + day * DAY_MS
            self.weekday = world.date_of_day(day).weekday()
            day_end = self.day_start + DAY_MS
            kept = [st for st in active if self._user_day(st, day, None)]
            arrivals = []
            while next_user < len(users) and users[next_user].signup_ms < day_end:
                state = UserState(users[next_user])
                states.append(state)
                arrivals.append((users[next_user].signup_ms, state))
                next_user += 1
            arrivals += sorted(self.waiting.pop(day, []), key=lambda a: (a[0], a[1].seed.user_id))
            for ts, st in arrivals:
                if self._user_day(st, day, ts):
                    kept.append(st)
            active = kept
            self.events.flush_until(day)
        self.events.flush_all()
        parts = self.root / "_truth" / "_parts"
        parts.mkdir(parents=True, exist_ok=True)
        self.churn_path.write_bytes(
            gzip.compress(b"".join(r + b"\n" for r in self.churn_rows), mtime=0)
        )
        subscriptions = [dumps(row).encode() + b"\n" for st in states for row in st.truth_rows]
        (parts / f"subscriptions-{self.shard:04d}.jsonl.gz").write_bytes(
            gzip.compress(b"".join(subscriptions), mtime=0)
        )
        return {"stats": self.events.stats, "faults": self.events.truth}
