"""The site config's `notifications:` section: channels, routes, quiet rules, escalation.

Raw (pydantic, strict, as written in the YAML) and compiled (`NotifyRules`, frozen) forms.
A channel is an apprise URL list (e-mail, DingTalk, WeCom, Feishu, SMS gateways...) or a
webhook of ours (JSON body, HMAC-SHA256 signature with a secret from an environment
variable or, less safely, the file). Routes say which alarms reach which channels, per
priority, enterprise, hazard source and escalation level (0: the alarm's own transitions;
1..3: the hazard source's operation, technical, main person; 4: park supervision). Quiet
rules hold alarms back from every channel (they still count in the shift report).

>>> rules = compile_rules(RawNotifications.model_validate({
...     "channels": {"room": {"webhook": "http://127.0.0.1:9/hook"}},
...     "routes": [{"channels": ["room"], "priorities": ["high"]}],
...     "quiet": [{"priorities": ["low"]}],
... }))
>>> rules.routes[0].matches("high", "e1", "hs1", 0, "activate"), rules.quiet_for("low", "e1", "hs1")
(True, True)
>>> rules.escalation.after_s["high"], rules.escalation.after_s["low"]
(300.0, None)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

PRIORITIES = ("high", "medium", "low")
ROLES = ("operation", "technical", "main")  # escalation levels 1, 2, 3; 4 is supervision
SUPERVISION_LEVEL = 4
EVENTS = ("activate", "clear", "ack", "unshelve", "reset", "update")

_Text = Annotated[str, Field(min_length=1)]
_Pos = Annotated[float, Field(gt=0)]
_PriorityName = Literal["high", "medium", "low"]
_EventName = Literal["activate", "clear", "ack", "unshelve", "reset", "update"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class RawChannel(_Strict):
    """One channel: `webhook` (our JSON body, signed) or `apprise` (its URLs), not both."""

    webhook: _Text | None = None
    secret_env: _Text | None = None  # the HMAC key's environment variable (preferred)
    secret: _Text | None = None  # the HMAC key itself (keep such a file out of the repo)
    apprise: list[_Text] = []
    timeout_s: _Pos = 10.0

    @model_validator(mode="after")
    def _one_kind(self) -> RawChannel:
        if (self.webhook is None) == (not self.apprise):
            raise PydanticCustomError(
                "channel_kind", "give either webhook (a URL) or apprise (a list of URLs)"
            )
        if self.webhook is None and (self.secret or self.secret_env):
            raise PydanticCustomError("channel_secret", "a secret signs webhooks only")
        return self


class RawRoute(_Strict):
    """Alarms matching every given filter (an empty filter: any) go to `channels`."""

    channels: list[_Text] = Field(min_length=1)
    priorities: list[_PriorityName] = []
    enterprises: list[_Text] = []
    hazard_sources: list[_Text] = []
    levels: list[Annotated[int, Field(ge=0, le=SUPERVISION_LEVEL)]] = [0]
    events: list[_EventName] = ["activate"]


class RawQuiet(_Strict):
    """Alarms matching every given filter reach no channel (only the shift report)."""

    priorities: list[_PriorityName] = []
    enterprises: list[_Text] = []
    hazard_sources: list[_Text] = []


class RawDelays(_Strict):
    """Seconds an alarm may stay unacknowledged before each escalation step; null: never."""

    high: _Pos | None = 300.0
    medium: _Pos | None = 900.0
    low: _Pos | None = None


class RawEscalation(_Strict):
    after_s: RawDelays = RawDelays()
    repeat: bool = True  # past supervision: supervision again every delay until handled


class RawRetry(_Strict):
    attempts: Annotated[int, Field(ge=1)] = 8
    backoff_s: _Pos = 2.0  # before the second attempt; doubles, with jitter
    backoff_max_s: _Pos = 600.0


class RawFlood(_Strict):
    """A console (a set of enterprises) with more than `enter_above` alarms raised within
    `window_s` is in flood; it leaves when fewer than `exit_below` remain in the window."""

    consoles: dict[str, list[_Text]] = {}  # console -> enterprise ids; the rest: "park"
    window_s: _Pos = 600.0
    enter_above: Annotated[int, Field(ge=1)] = 10
    exit_below: Annotated[int, Field(ge=1)] = 5

    @model_validator(mode="after")
    def _hysteresis(self) -> RawFlood:
        if self.exit_below > self.enter_above:
            raise PydanticCustomError(
                "flood_hysteresis", "exit_below must not be above enter_above"
            )
        return self


class RawChatter(_Strict):
    """The same alarm (sensor and condition) raised `count` times within `window_s` is
    chattering; with `auto_shelve_s`, it is shelved that long (at most the park's maximum)."""

    count: Annotated[int, Field(ge=2)] = 3
    window_s: _Pos = 60.0
    auto_shelve_s: _Pos | None = None


class RawNotifications(_Strict):
    channels: dict[str, RawChannel] = {}
    people: dict[str, list[_Text]] = {}  # a responsible person's name -> channel names
    supervision: list[_Text] = []  # park supervision's channels (escalation level 4)
    routes: list[RawRoute] = []
    quiet: list[RawQuiet] = []
    escalation: RawEscalation = RawEscalation()
    retry: RawRetry = RawRetry()
    flood: RawFlood = RawFlood()
    chatter: RawChatter = RawChatter()


# ------------------------------------------------------------------ compiled


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel as configured; `secret` is resolved from the environment at load."""

    name: str
    webhook: str | None = None
    secret: str | None = None
    apprise: tuple[str, ...] = ()
    timeout_s: float = 10.0


def _hit(allowed: tuple[str, ...], value: str) -> bool:
    return not allowed or value in allowed


@dataclass(frozen=True, slots=True)
class Route:
    channels: tuple[str, ...]
    priorities: tuple[str, ...] = ()
    enterprises: tuple[str, ...] = ()
    hazard_sources: tuple[str, ...] = ()
    levels: tuple[int, ...] = (0,)
    events: tuple[str, ...] = ("activate",)

    def matches(self, priority: str, enterprise: str, source: str, level: int, event: str) -> bool:
        """Whether an alarm's `event` (or escalation step, event "escalate") at `level`
        goes this way."""
        return (
            level in self.levels
            and (event == "escalate" or event in self.events)
            and _hit(self.priorities, priority)
            and _hit(self.enterprises, enterprise)
            and _hit(self.hazard_sources, source)
        )


@dataclass(frozen=True, slots=True)
class Quiet:
    priorities: tuple[str, ...] = ()
    enterprises: tuple[str, ...] = ()
    hazard_sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Escalation:
    after_s: dict[str, float | None] = field(
        default_factory=lambda: {"high": 300.0, "medium": 900.0, "low": None}
    )
    repeat: bool = True


@dataclass(frozen=True, slots=True)
class Retry:
    attempts: int = 8
    backoff_s: float = 2.0
    backoff_max_s: float = 600.0


@dataclass(frozen=True, slots=True)
class Flood:
    consoles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    window_s: float = 600.0
    enter_above: int = 10
    exit_below: int = 5

    def console_of(self, enterprise: str) -> str:
        """The console an enterprise is watched from ("park": any not assigned)."""
        for name, members in self.consoles.items():
            if enterprise in members:
                return name
        return "park"


@dataclass(frozen=True, slots=True)
class Chatter:
    count: int = 3
    window_s: float = 60.0
    auto_shelve_s: float | None = None


@dataclass(frozen=True, slots=True)
class NotifyRules:
    """The compiled `notifications:` section (empty: nobody is notified, no escalation
    has anywhere to go)."""

    channels: dict[str, Channel] = field(default_factory=dict)
    people: dict[str, tuple[str, ...]] = field(default_factory=dict)
    supervision: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    quiet: tuple[Quiet, ...] = ()
    escalation: Escalation = field(default_factory=Escalation)
    retry: Retry = field(default_factory=Retry)
    flood: Flood = field(default_factory=Flood)
    chatter: Chatter = field(default_factory=Chatter)

    def quiet_for(self, priority: str, enterprise: str, source: str) -> bool:
        """Whether a quiet rule holds this alarm back from every channel."""
        return any(
            _hit(q.priorities, priority)
            and _hit(q.enterprises, enterprise)
            and _hit(q.hazard_sources, source)
            for q in self.quiet
        )


def compile_rules(raw: RawNotifications) -> NotifyRules:
    """The frozen rules; a webhook's `secret_env` read from the environment now (unset:
    unsigned, which `problems` reports)."""
    channels = {
        name: Channel(
            name,
            c.webhook,
            c.secret if c.secret_env is None else os.environ.get(c.secret_env),
            tuple(c.apprise),
            c.timeout_s,
        )
        for name, c in raw.channels.items()
    }
    return NotifyRules(
        channels=channels,
        people={p: tuple(c) for p, c in raw.people.items()},
        supervision=tuple(raw.supervision),
        routes=tuple(
            Route(
                tuple(r.channels),
                tuple(r.priorities),
                tuple(r.enterprises),
                tuple(r.hazard_sources),
                tuple(r.levels),
                tuple(r.events),
            )
            for r in raw.routes
        ),
        quiet=tuple(
            Quiet(tuple(q.priorities), tuple(q.enterprises), tuple(q.hazard_sources))
            for q in raw.quiet
        ),
        escalation=Escalation(raw.escalation.after_s.model_dump(), raw.escalation.repeat),
        retry=Retry(raw.retry.attempts, raw.retry.backoff_s, raw.retry.backoff_max_s),
        flood=Flood(
            {c: tuple(e) for c, e in raw.flood.consoles.items()},
            raw.flood.window_s,
            raw.flood.enter_above,
            raw.flood.exit_below,
        ),
        chatter=Chatter(raw.chatter.count, raw.chatter.window_s, raw.chatter.auto_shelve_s),
    )


def problems(
    raw: RawNotifications, enterprises: set[str], hazard_sources: set[str]
) -> list[tuple[str, str]]:
    """(path under `notifications`, what is wrong) for every name that names nothing."""
    out: list[tuple[str, str]] = []
    known = set(raw.channels)

    def channels(path: str, names: list[str]) -> None:
        for i, n in enumerate(names):
            if n not in known:
                out.append((f"{path}[{i}]", f"no channel {n!r}; define it under channels:"))

    for name, c in raw.channels.items():
        if c.secret_env is not None and c.secret_env not in os.environ:
            out.append(
                (
                    f"channels.{name}.secret_env",
                    f"environment variable {c.secret_env} is not set; set it to the "
                    "webhook's HMAC key",
                )
            )
    for person, names in raw.people.items():
        channels(f"people.{person}", names)
    channels("supervision", raw.supervision)
    for i, r in enumerate(raw.routes):
        channels(f"routes[{i}].channels", r.channels)
    for i, rule in enumerate([*raw.routes, *raw.quiet]):
        where = f"routes[{i}]" if i < len(raw.routes) else f"quiet[{i - len(raw.routes)}]"
        for what, names, have in (
            ("enterprise", rule.enterprises, enterprises),
            ("hazard source", rule.hazard_sources, hazard_sources),
        ):
            for j, n in enumerate(names):
                if n not in have:
                    key = "enterprises" if what == "enterprise" else "hazard_sources"
                    out.append((f"{where}.{key}[{j}]", f"no {what} {n!r} in this site"))
    seen: dict[str, str] = {}
    for console, members in raw.flood.consoles.items():
        for j, n in enumerate(members):
            path = f"flood.consoles.{console}[{j}]"
            if n not in enterprises:
                out.append((path, f"no enterprise {n!r} in this site"))
            elif n in seen:
                out.append((path, f"enterprise {n!r} is already on console {seen[n]!r}"))
            else:
                seen[n] = console
    return out
