"""The default task of ``rnnkit seq2seq``: dates written the ways people write them, to ISO 8601.

    "Monday 30 Nov 2026", "30/11/26", "november 30, 2026", "2026.11.30", ...  ->  "2026-11-30"

Pairs are generated at run time from a seed (same seed, same pairs), so no data file is bundled.
Dates are drawn uniformly from 1950-01-01 to 2049-12-31; every format is unambiguous:

- numeric day-month orders are European (day first: "30/11/26"); the only month-first orders
  spell the month out ("November 30, 2026", "11/30" never appears);
- a two-digit year ``yy`` means 19yy for yy >= 50 and 20yy below (the range drawn);
- a weekday, when written, is the date's real weekday.
"""
import datetime

import numpy as np

FIRST_DAY = datetime.date(1950, 1, 1)
LAST_DAY = datetime.date(2049, 12, 31)

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _ordinal(day):
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _fields(date):
    """The pieces formats are assembled from, for ``date``."""
    month = MONTHS[date.month - 1]
    weekday = WEEKDAYS[date.weekday()]
    return {"d": str(date.day), "dd": f"{date.day:02d}", "dth": _ordinal(date.day), "m": str(date.month),
            "mm": f"{date.month:02d}", "month": month, "mon": month[:3], "yyyy": str(date.year),
            "yy": f"{date.year % 100:02d}", "weekday": weekday, "wkd": weekday[:3]}


#: every written form (a str.format pattern over :func:`_fields`) and the letter case it is drawn in
FORMATS = (
    "{weekday} {d} {mon} {yyyy}",          # Monday 30 Nov 2026
    "{wkd}, {d} {mon} {yyyy}",             # Mon, 30 Nov 2026 (the e-mail date form)
    "{weekday}, {month} {d}, {yyyy}",      # Monday, November 30, 2026
    "{d} {month} {yyyy}",                  # 30 November 2026
    "{dth} {month} {yyyy}",                # 30th November 2026
    "{dth} of {month}, {yyyy}",            # 30th of November, 2026
    "{month} {d}, {yyyy}",                 # November 30, 2026
    "{month} {dth}, {yyyy}",               # November 30th, 2026
    "{mon} {d}, {yyyy}",                   # Nov 30, 2026
    "{d} {mon} {yyyy}",                    # 30 Nov 2026
    "{d}-{mon}-{yy}",                      # 30-Nov-26
    "{dd}/{mm}/{yy}",                      # 30/11/26
    "{d}/{m}/{yyyy}",                      # 30/11/2026
    "{dd}.{mm}.{yyyy}",                    # 30.11.2026
    "{dd}-{mm}-{yyyy}",                    # 30-11-2026
    "{yyyy}-{mm}-{dd}",                    # 2026-11-30 (already ISO)
    "{yyyy}/{mm}/{dd}",                    # 2026/11/30
    "{yyyy}.{m}.{d}",                      # 2026.11.30
    "{yyyy}{mm}{dd}",                      # 20261130
)
CASES = ("as written", "lower", "upper")


def write_date(date, form, case="as written"):
    """``date`` in the written form ``FORMATS[form]``, in ``case`` ("as written", "lower" or "upper")."""
    text = FORMATS[form].format(**_fields(date))
    return text.lower() if case == "lower" else text.upper() if case == "upper" else text


def iso(date):
    return date.isoformat()


def date_pairs(count, seed):
    """``count`` (written date, ISO date) pairs drawn with ``np.random.default_rng(seed)``.

    Each pair draws a day uniformly in [FIRST_DAY, LAST_DAY], a format uniformly from
    :data:`FORMATS` and a letter case (as written 70%, lower 20%, upper 10%; only formats with
    words differ by case).
    """
    rng = np.random.default_rng(seed)
    span = (LAST_DAY - FIRST_DAY).days + 1
    days = rng.integers(0, span, count)
    forms = rng.integers(0, len(FORMATS), count)
    cases = rng.choice(len(CASES), size=count, p=(0.7, 0.2, 0.1))
    pairs = []
    for day, form, case in zip(days.tolist(), forms.tolist(), cases.tolist()):
        date = FIRST_DAY + datetime.timedelta(days=day)
        pairs.append((write_date(date, form, CASES[case]), iso(date)))
    return pairs
