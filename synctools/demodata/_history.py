"""Pages and the ``history`` collection.

A history record (objectformats.rst, application-services ``history_sync/record.rs``):
``{id, histUri, title, visits: [{date: µs, type: 1..9}]}``, at most 20 visits, newest
first. Visits follow a person's rhythm: popular sites (Zipf), daytime hours, more on
weekdays, and bursts of visits to a page in the days after it was first seen.
"""

from __future__ import annotations

import random
from typing import Any

from ._common import DAY_MS, EPOCH_MS, YEAR_MS, guid, modified_after, weighted_index
from ._vocab import SITES, TITLE_WORDS, TOPICS

N_HISTORY = 20_000
MAX_VISITS = 20  # Firefox uploads at most the 20 most recent visits of a page
LAST_VISIT_MS = EPOCH_MS - 15 * 60_000  # the last visit is just before the last sync

# Transition types (nsINavHistoryService): 1 link, 2 typed, 3 bookmark, 4 embed,
# 5 permanent redirect, 6 temporary redirect, 7 download, 8 framed link, 9 reload.
# Embed visits (4) live only in memory in Places and are never synced, so none here.
LINK, TYPED, BOOKMARK, REDIRECT_PERM, REDIRECT_TEMP, DOWNLOAD, FRAMED, RELOAD = 1, 2, 3, 5, 6, 7, 8, 9

# Hour-of-day weights (UTC stands in for the person's local time).
_HOURS = [1, 0.5, 0.2, 0.1, 0.1, 0.2, 1, 3, 6, 8, 8, 7, 6, 7, 8, 8, 7, 6, 6, 7, 8, 7, 5, 3]
_HOURS_CUM = [sum(_HOURS[: i + 1]) for i in range(24)]
_SITE_CUM: list[float] = []
_acc = 0.0
for _rank in range(len(SITES)):
    _acc += 1.0 / (_rank + 1) ** 0.95
    _SITE_CUM.append(_acc)


def _slug(words: list[str]) -> str:
    text = " ".join(words).lower()
    return "-".join("".join(c for c in w if c.isalnum()) for w in text.split())


def make_page(rng: random.Random, site: int) -> tuple[str, str]:
    """A made-up page of ``SITES[site]``: (url, title)."""
    host, name, kind = SITES[site]
    topic = rng.choice(TOPICS)
    topic2 = rng.choice(TOPICS)
    lead = rng.choice(TITLE_WORDS)
    n = rng.randrange(1000, 99_999_999)
    base = f"https://{host}"
    if kind == "search":
        return f"{base}/search?q={topic}+{topic2}&client=firefox-b-d", f"{topic} {topic2} - {name} Search"
    if kind == "video":
        vid = guid(rng)[:11]
        return f"{base}/watch?v={vid}", f"{lead} {topic} ({topic2} edition) - {name}"
    if kind == "dev":
        user, repo = rng.choice(TOPICS), f"{topic}-{topic2}"
        what = rng.random()
        if what < 0.4:
            return f"{base}/{user}/{repo}", f"{user}/{repo}: {lead.lower()} {topic2} - {name}"
        if what < 0.7:
            return (
                f"{base}/{user}/{repo}/issues/{n % 5000}",
                f"{topic} fails with {topic2} · Issue #{n % 5000} · {user}/{repo}",
            )
        return (
            f"{base}/questions/{n % 80_000_000}/{_slug([lead, topic])}",
            f"{lead} {topic} in {topic2}? - {name}",
        )
    if kind == "ref":
        art = f"{topic.capitalize()}_{topic2}"
        return f"{base}/wiki/{art}", f"{art.replace('_', ' ')} - {name}"
    if kind == "docs":
        return f"{base}/en-US/docs/{topic}/{topic2}", f"{topic2} | {topic} | {name}"
    if kind == "news":
        day = rng.randrange(1, 29)
        return (
            f"{base}/2026/{rng.randrange(1, 12):02d}/{day:02d}/{_slug([lead, topic, topic2])}",
            f"{lead} {topic} and {topic2} | {name}",
        )
    if kind == "shop":
        return f"{base}/item/{n}/{topic}-{topic2}", f"{topic.capitalize()} {topic2} kit | {name}"
    if kind == "mail":
        return f"{base}/mail/u/0/#inbox/{n:x}", f"Inbox ({n % 40}) - {name}"
    if kind == "travel":
        city = rng.choice(("lyon", "kyoto", "porto", "ghent", "oslo", "lisbon"))
        return f"{base}/{city}/{topic}-{n % 100000}", f"{topic.capitalize()} in {city.capitalize()} - {name}"
    if kind == "food":
        return (
            f"{base}/recipe/{n % 300000}/{topic}-{topic2}",
            f"{topic.capitalize()} with {topic2} recipe | {name}",
        )
    if kind == "bank":
        return f"{base}/accounts/{n % 100}/statements", f"Statements - {name}"
    return f"{base}/{topic}/{topic2}", f"{topic.capitalize()} {topic2} - {name}"


def pick_site(rng: random.Random) -> int:
    return weighted_index(rng, _SITE_CUM)


def _visit_time(rng: random.Random, day_start: int) -> int:
    hour = weighted_index(rng, _HOURS_CUM)
    return day_start + hour * 3_600_000 + rng.randrange(3_600_000)


def _transition(rng: random.Random, url: str, is_home: bool, bookmarked: bool) -> int:
    r = rng.random()
    if url.endswith((".pdf", ".zip")):
        return DOWNLOAD
    if is_home and r < 0.45:
        return TYPED
    if bookmarked and r < 0.35:
        return BOOKMARK
    if r < 0.80:
        return LINK
    if r < 0.86:
        return RELOAD
    if r < 0.91:
        return REDIRECT_TEMP
    if r < 0.94:
        return REDIRECT_PERM
    if r < 0.97:
        return FRAMED
    return TYPED


def generate_pages(rng: random.Random, n: int) -> list[tuple[str, str, int]]:
    """``n`` distinct pages (url, title, site): every site's home page, then Zipf-drawn pages."""
    pages: list[tuple[str, str, int]] = []
    seen: set[str] = set()
    for i, (host, name, _kind) in enumerate(SITES):
        url = f"https://{host}/"
        pages.append((url, name, i))
        seen.add(url)
    while len(pages) < n:
        site = pick_site(rng)
        url, title = make_page(rng, site)
        if rng.random() < 0.01:
            url += ".pdf"
        if url not in seen:
            seen.add(url)
            pages.append((url, title, site))
    return pages


def generate_history(
    rng: random.Random, pages: list[tuple[str, str, int]], bookmarked: set[str]
) -> tuple[list[dict[str, Any]], list[int], dict[str, int]]:
    """One record per page. Return (records, modified in 1/100 s per record, frecency by url)."""
    records: list[dict[str, Any]] = []
    modified: list[int] = []
    frecency: dict[str, int] = {}
    start = EPOCH_MS - YEAR_MS
    for url, title, site in pages:
        is_home = url.endswith("/") and url.count("/") == 3
        if is_home:
            # A home page: visited regularly since early in the year, more for top sites.
            total = max(1, int(400 / (site + 1) ** 0.8 * rng.uniform(0.5, 1.5)))
            first = start + int(rng.random() ** 3 * YEAR_MS * 0.5)
        else:
            total = int(rng.paretovariate(1.6)) if rng.random() < 0.7 else rng.randint(1, 4)
            total = min(total, 60)
            # First seen anywhere in the year, a little more often recently.
            first = start + int((rng.random() ** 0.8) * (YEAR_MS - DAY_MS))
        span = max(DAY_MS, LAST_VISIT_MS - first)
        dates: set[int] = set()
        for k in range(min(total, MAX_VISITS * 3)):
            if is_home:
                day = first + int(rng.random() * span)
            else:
                # Bursty: most revisits within a few days of the first visit.
                day = first + (0 if k == 0 else int(rng.expovariate(1 / (3 * DAY_MS))))
            day_start = day - day % DAY_MS
            weekday = (day_start // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
            if weekday >= 5 and rng.random() < 0.35:
                day_start += (7 - weekday + rng.randrange(5)) * DAY_MS  # moved to a weekday
            t = _visit_time(rng, day_start)
            if start <= t <= LAST_VISIT_MS:
                dates.add(t)
        if not dates:
            dates.add(min(LAST_VISIT_MS, max(start, first)))
        recent = sorted(dates, reverse=True)[:MAX_VISITS]
        bm = url in bookmarked
        visits = [{"date": t * 1000, "type": _transition(rng, url, is_home, bm)} for t in recent]
        record = {"id": guid(rng), "histUri": url, "title": title, "visits": visits}
        records.append(record)
        modified.append(modified_after(recent[0]))
        # Frecency-like score: recent and typed/bookmarked visits count more.
        score = 0.0
        for v in visits:
            age_days = (EPOCH_MS - v["date"] // 1000) / DAY_MS
            weight = (
                100 if age_days < 4 else 70 if age_days < 14 else 50 if age_days < 31 else 30 if age_days < 90 else 10
            )
            bonus = {TYPED: 2.0, BOOKMARK: 1.4, LINK: 1.0}.get(v["type"], 0.3)
            score += weight * bonus
        frecency[url] = int(score * max(1, len(dates)) / len(visits)) + (140 if bm else 0)
    return records, modified, frecency
