"""EventBridge Scheduler's recurring schedule expressions: `rate(value unit)` and `cron(six fields)`.

A plan's `Schedule.Expression` is checked here when the plan is read (a typo is refused naming the field, before
anything is stored or scheduled), and `drsctl plan list` computes a plan's next drill from it. The grammar is the
one the EventBridge Scheduler User Guide gives (Schedule types):

- `rate(value unit)`: a positive whole number and minute | minutes | hour | hours | day | days. Without a StartDate
  Scheduler invokes at once and then every period; `drsctl plan load` gives a new rate schedule a StartDate one
  period after the load, so loading a plan never starts a drill by itself.
- `cron(minutes hours day-of-month month day-of-week year)`: minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12
  or JAN-DEC, day-of-week 1-7 or SUN-SAT (1 is Sunday), year 1970-2199; `,` lists, `-` ranges, `*` all, `/`
  increments; day-of-month also `L` (last day), `nW` (the weekday nearest day n), `LW` (the last weekday); day-of-week
  `nL` (the last day n of the month) and `n#k` (the k-th day n). One of day-of-month and day-of-week must be `?`.

Times are evaluated in the schedule's time zone (default UTC), as Scheduler does.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
CRON = re.compile(r"^cron\((.+)\)$")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400}
MONTHS = {name: number for number, name in enumerate(calendar.month_abbr) if name}  # JAN -> 1
WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
YEARS = (1970, 2199)
SEARCH_DAYS = 366 * 8  # the next time of a cron expression is looked for this far ahead (leap days every 4 years)
TIMEZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"


class ScheduleExpressionError(ValueError):
    """The expression is not one EventBridge Scheduler accepts; the message says which part and why."""


@dataclass(frozen=True)
class Rate:
    seconds: int

    def next_after(self, start: float, after: float) -> float:
        """The first time past `after` of a schedule that fires at `start` and every `seconds` from there."""
        if after < start:
            return start
        periods = int((after - start) // self.seconds) + 1
        return start + periods * self.seconds


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    day: Callable[[date], bool]  # day-of-month and day-of-week together
    months: frozenset[int]
    years: frozenset[int]

    def next_after(self, after: float, zone: tzinfo) -> float | None:
        """The first time strictly after `after` (epoch seconds) that the expression names, in `zone`; None when
        none within SEARCH_DAYS (a year list in the past, or February 30th)."""
        local = datetime.fromtimestamp(after, tz=zone)
        for day in _days_from(local.date()):
            if day.year not in self.years or day.month not in self.months or not self.day(day):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).timestamp()
                    if moment > after:
                        return moment
        return None


Expression = Rate | Cron


def parse(expression: str) -> Expression:
    """The expression as a Rate or a Cron; ScheduleExpressionError saying what is wrong otherwise."""
    text = expression.strip()
    rate = RATE.match(text)
    if rate:
        value = int(rate.group(1))
        if value < 1:
            raise ScheduleExpressionError(f"{expression!r}: a rate's value is a whole number of at least 1")
        return Rate(value * UNIT_SECONDS[rate.group(2).rstrip("s")])
    if text.startswith("rate("):
        raise ScheduleExpressionError(
            f"{expression!r}: write rate(value unit) with a whole number and one of minute, minutes, hour, hours, "
            'day, days, e.g. "rate(7 days)"'
        )
    cron = CRON.match(text)
    if not cron:
        raise ScheduleExpressionError(
            f'{expression!r} is neither "rate(value unit)" nor "cron(minutes hours day-of-month month day-of-week '
            'year)"; e.g. "rate(30 days)" or "cron(0 6 ? * MON#1 *)" (06:00 on the first Monday of every month)'
        )
    return _cron(expression, cron.group(1).split())


def next_time(
    expression: str, after: float, *, timezone: str | None = None, start: float | None = None
) -> float | None:
    """When a schedule with this expression next fires after `after` (epoch seconds). A rate schedule fires at
    `start` (its StartDate; default `after`) and every period from there."""
    parsed = parse(expression)
    if isinstance(parsed, Rate):
        return parsed.next_after(after if start is None else start, after)
    return parsed.next_after(after, zone(timezone))


def zone(timezone: str | None) -> tzinfo:
    if timezone is None or timezone == "UTC":
        return UTC
    return ZoneInfo(timezone)


def check_timezone(name: str) -> None:
    """A time zone of the IANA database (Europe/Paris, America/New_York, UTC). Where this Python has no time zone
    database at all (a minimal container), only the name's form is checked: the stack's Scheduler knows them all."""
    if not re.match(TIMEZONE_PATTERN, name):
        raise ScheduleExpressionError(f"{name!r} is not a time zone name; use one like Europe/Paris or UTC")
    if name == "UTC":
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if available_timezones():
            raise ScheduleExpressionError(
                f"{name!r} is not a time zone of the IANA database; use one like Europe/Paris, America/New_York or UTC"
            ) from None


def period_seconds(expression: str) -> int | None:
    """A rate expression's period in seconds; None for a cron expression."""
    parsed = parse(expression)
    return parsed.seconds if isinstance(parsed, Rate) else None


# -- cron ----------------------------------------------------------------------------------------------------------


def _cron(expression: str, fields: list[str]) -> Cron:
    if len(fields) != 6:
        raise ScheduleExpressionError(
            f"{expression!r}: a cron expression has six fields (minutes hours day-of-month month day-of-week year), "
            f"not {len(fields)}"
        )
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleExpressionError(
            f"{expression!r}: exactly one of day-of-month ({day_of_month}) and day-of-week ({day_of_week}) must be ?"
        )
    try:
        day = _day_of_week(day_of_week) if day_of_month == "?" else _day_of_month(day_of_month)
        return Cron(
            minutes=_values(minutes, 0, 59, "minutes"),
            hours=_values(hours, 0, 23, "hours"),
            day=day,
            months=_values(month, 1, 12, "month", MONTHS),
            years=_values(year, *YEARS, "year"),
        )
    except ScheduleExpressionError as error:
        raise ScheduleExpressionError(f"{expression!r}: {error}") from None


def _values(field: str, low: int, high: int, name: str, names: dict[str, int] | None = None) -> frozenset[int]:
    """The numbers a field of `,`-separated `*`, `n`, `a-b`, `a/s`, `a-b/s`, `*/s` items names."""
    chosen: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        step = _number(step_text, 1, high - low + 1, f"{name} increment") if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first_text, _, last_text = span.partition("-")
            first, last = _number(first_text, low, high, name, names), _number(last_text, low, high, name, names)
            if first > last:
                raise ScheduleExpressionError(f"{name} range {span} runs backwards")
        else:
            first = _number(span, low, high, name, names)
            last = high if step_text else first
        chosen.update(range(first, last + 1, step))
    return frozenset(chosen)


def _number(text: str, low: int, high: int, name: str, names: dict[str, int] | None = None) -> int:
    upper = text.upper()
    if names and upper in names:
        return names[upper]
    if not text.isdigit() or not low <= int(text) <= high:
        words = f" or {'-'.join((next(iter(names)), list(names)[-1]))}" if names else ""
        raise ScheduleExpressionError(f"{name} {text!r} is not a number from {low} to {high}{words}")
    return int(text)


def _day_of_month(field: str) -> Callable[[date], bool]:
    if field == "L":
        return lambda day: day.day == _month_days(day)
    if field == "LW":
        return lambda day: day == _last_weekday(day)
    nearest = re.fullmatch(r"(\d{1,2})W", field)
    if nearest:
        target = _number(nearest.group(1), 1, 31, "day-of-month")
        return lambda day: day == _nearest_weekday(day, target)
    days = _values(field, 1, 31, "day-of-month")
    return lambda day: day.day in days


def _day_of_week(field: str) -> Callable[[date], bool]:
    nth = re.fullmatch(r"([A-Za-z]{3}|\d)#([1-5])", field)
    if nth:
        weekday, which = _number(nth.group(1), 1, 7, "day-of-week", WEEKDAYS), int(nth.group(2))
        return lambda day: _aws_weekday(day) == weekday and (day.day - 1) // 7 + 1 == which
    last = re.fullmatch(r"([A-Za-z]{3}|\d)L", field)
    if last:
        weekday = _number(last.group(1), 1, 7, "day-of-week", WEEKDAYS)
        return lambda day: _aws_weekday(day) == weekday and day.day + 7 > _month_days(day)
    weekdays = _values(field, 1, 7, "day-of-week", WEEKDAYS)
    return lambda day: _aws_weekday(day) in weekdays


def _aws_weekday(day: date) -> int:
    """1 for Sunday ... 7 for Saturday, as cron's day-of-week counts (Python's isoweekday: 7 for Sunday)."""
    return day.isoweekday() % 7 + 1


def _month_days(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(day: date, target: int) -> date | None:
    """The weekday (Monday to Friday) nearest day `target` of `day`'s month, never in another month."""
    last = _month_days(day)
    if target > last:
        return None
    wanted = date(day.year, day.month, target)
    if wanted.weekday() == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return wanted - timedelta(days=1) if target > 1 else wanted + timedelta(days=2)
    if wanted.weekday() == 6:  # Sunday: the Monday after, or the Friday before on the month's last day
        return wanted + timedelta(days=1) if target < last else wanted - timedelta(days=2)
    return wanted


def _last_weekday(day: date) -> date:
    last = date(day.year, day.month, _month_days(day))
    while last.weekday() > 4:
        last -= timedelta(days=1)
    return last


def _days_from(first: date) -> Iterator[date]:
    for offset in range(SEARCH_DAYS):
        yield first + timedelta(days=offset)
