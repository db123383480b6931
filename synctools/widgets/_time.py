"""Timestamps as a person reads them: a date in their time zone, the raw value on hover.

Frames keep UTC datetimes (pandas); the widgets show every timestamp as a local date to
the second, with the server's own value (``1788246550.72``) and the UTC time in the
``title`` (hover) and in ``data-raw``. "Local" is the kernel's time zone unless
:func:`set_timezone` (or ``SYNCTOOLS_TZ``) names another: a kernel on a remote
machine may not share the person's zone.
"""

from __future__ import annotations

import html
import os
from datetime import UTC, datetime, tzinfo
from typing import Any

from ..protocol.bso import ServerTime

_zone: tzinfo | None = None


def set_timezone(name: str | None) -> None:
    """Show times in the IANA zone ``name`` (``"Europe/Berlin"``); ``None``: the kernel's."""
    global _zone
    if name is None:
        _zone = _kernel_zone()
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        _zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'") from None


def _kernel_zone() -> tzinfo:
    """The kernel's own zone as an IANA zone when it can be named (so summer and winter
    dates get their own offsets), else its current fixed offset."""
    from zoneinfo import ZoneInfo

    key = os.environ.get("TZ", "").lstrip(":")
    if not key:
        target = os.path.realpath("/etc/localtime")
        key = target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else ""
    try:
        return ZoneInfo(key) if key else _fixed()
    except (ValueError, OSError):  # an unknown or malformed key: the offset still holds
        return _fixed()


def _fixed() -> tzinfo:
    return datetime.now().astimezone().tzinfo or UTC


def zone() -> tzinfo:
    """The zone times are shown in: :func:`set_timezone`, ``SYNCTOOLS_TZ``, or the kernel's."""
    global _zone
    if _zone is None:
        if os.environ.get("SYNCTOOLS_TZ"):
            set_timezone(os.environ["SYNCTOOLS_TZ"])
        else:
            _zone = _kernel_zone()
    assert _zone is not None
    return _zone


def server_time(value: Any) -> Any:
    """``value`` as a ServerTime when it is the text of one (``"1788246550.72"``: some
    results keep times as strings), else ``value`` unchanged."""
    if isinstance(value, str) and value[:1].isdigit():
        try:
            return ServerTime.parse(value)
        except ValueError:
            return value
    return value


def _as_datetime(value: Any) -> tuple[datetime, str] | None:
    """``(aware UTC datetime, raw text)`` for a timestamp value, or None for anything else."""
    if isinstance(value, ServerTime):
        return value.to_datetime(), str(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, datetime):  # includes pandas.Timestamp
        try:
            import pandas as pd

            if value is pd.NaT:
                return None
        except ImportError:  # pragma: no cover
            pass
        aware = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)
        return aware, f"{aware.timestamp():.2f}"  # seconds since the epoch, as the server writes them
    return None


def local(value: Any) -> str | None:
    """``"2026-09-01 12:29:10 CEST"`` for a timestamp, None for anything else."""
    parsed = _as_datetime(value)
    if parsed is None:
        return None
    shown = parsed[0].astimezone(zone())
    name = shown.tzname() or ""
    if not name or name[0] in "+-":  # a bare offset: say it is one
        name = shown.strftime("UTC%z")
    return shown.strftime("%Y-%m-%d %H:%M:%S ") + name


def raw(value: Any) -> str | None:
    """The hover text: the server's value and the UTC time to the hundredth."""
    parsed = _as_datetime(value)
    if parsed is None:
        return None
    dt, text = parsed
    return f"server value {text} · " + dt.strftime("%Y-%m-%d %H:%M:%S.%f")[:-4] + " UTC"


def when_html(value: Any) -> str | None:
    """``<time>`` markup for a timestamp (local date, raw on hover), None otherwise."""
    shown = local(value)
    if shown is None:
        return None
    parsed = _as_datetime(value)
    assert parsed is not None
    title = html.escape(raw(value) or "", quote=True)
    iso = parsed[0].isoformat()
    return (
        f"<time class='synctools-time' datetime='{iso}' title='{title}' data-raw='{html.escape(parsed[1], quote=True)}'"
        f" style='text-decoration:underline dotted'>{html.escape(shown)}</time>"
    )


def local_series(series: Any) -> Any:
    """A datetime column as :func:`local` shows each value, vectorised: numpy formats
    the local wall times, and each distinct UTC offset is named once (CET, CEST, …)."""
    import numpy as np
    import pandas as pd

    aware = series.dt.tz_localize("UTC") if series.dt.tz is None else series
    shown = aware.dt.tz_convert(zone())
    wall = shown.dt.tz_localize(None)
    text = np.char.replace(wall.to_numpy().astype("datetime64[s]").astype(str), "T", " ")
    offsets = (wall - aware.dt.tz_convert("UTC").dt.tz_localize(None)).dt.total_seconds()
    names: dict[float, str] = {}
    for off in offsets.dropna().unique():
        first = shown[offsets == off].iloc[0]
        names[off] = local(first.to_pydatetime()).rsplit(" ", 1)[1]  # type: ignore[union-attr]
    out = pd.Series(text, index=series.index, dtype=object) + " " + offsets.map(names).astype(object).fillna("")
    return out.where(series.notna(), "")
