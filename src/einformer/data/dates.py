"""Human date formats -> ISO 8601 (YYYY-MM-DD), the date-normalisation task."""

from __future__ import annotations

import datetime
import random

# Each format is unambiguous on its own (no day/month guessing, no two-digit years).
FORMATS = [
    "%B %d, %Y",  # March 05, 2021
    "%B %-d, %Y",  # March 5, 2021
    "%-d %B %Y",  # 5 March 2021
    "%d %b %Y",  # 05 Mar 2021
    "%b %-d %Y",  # Mar 5 2021
    "%A, %B %-d, %Y",  # Friday, March 5, 2021
    "%a %d %b %Y",  # Fri 05 Mar 2021
    "%d.%m.%Y",  # 05.03.2021
    "%Y/%m/%d",  # 2021/03/05
    "%m/%d/%Y",  # 03/05/2021 (always US order)
    "%Y%m%d",  # 20210305
    "the %-d of %B %Y",  # the 5 of March 2021
]
FIRST, LAST = datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)


def random_date_pair(rng: random.Random) -> tuple[str, str]:
    """A random date in 1900..2099 in a random human format (lower-cased half the time), and its ISO form."""
    day = FIRST + datetime.timedelta(days=rng.randrange((LAST - FIRST).days + 1))
    fmt = rng.choice(FORMATS).replace("%-d", str(day.day))  # %-d is glibc-only; expand it portably
    text = day.strftime(fmt)
    if rng.random() < 0.5:
        text = text.lower()
    return text, day.isoformat()
