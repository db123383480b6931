"""Reading a collection page by page (``limit``/``offset``), streaming, and bounded.

Pages are yielded as they arrive, so a caller can decrypt and store each one and let it
go: memory holds a few pages, not the collection (the next page's request goes out while
this one is parsed and handed on, so the server is never idle waiting for us). A server
cannot keep a read going for ever: an ``X-Weave-Next-Offset`` already used is refused at
once, and the number of pages is capped by what ``info/collection_counts`` says the
collection holds (asked once, when a second page is announced), with a margin.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from synctools._threads import prefetch
from synctools.protocol._columns import BSOColumns, columns_from_body, columns_from_json
from synctools.protocol.bso import ServerTime

from .answers import AnswerShapeError, bso_from_server, header_time, malformed, parse_json, server_time
from .answers import StorageClient as _Checked
from .errors import CollectionChanged, NotFound, PreconditionFailed

if TYPE_CHECKING:
    import requests


class StorageClient(_Checked, Protocol):
    """What a reader needs of a storage client (structural: :mod:`.storage` imports this)."""

    def _request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = ..., headers: Mapping[str, str] | None = ...
    ) -> requests.Response: ...

    def info_collection_counts(self) -> dict[str, int]: ...


MAX_OFFSET = 4096  # characters: an offset is an opaque token, never a document


@dataclass(frozen=True)
class _Answer:
    """One answer of a read, as :meth:`CollectionReader._answers` hands it on."""

    resp: requests.Response
    records: Any  # parsed already (the first page), else None
    offset: str | None
    number: int
    problem: Exception | None  # why the read may not go on to ``offset``


@dataclass(frozen=True)
class Page:
    """One page of a collection read."""

    #: BSO objects (full) or ids; malformed records are MalformedBSO. With ``columns=True``
    #: one BSOColumns, whose ``errors`` hold the malformed envelopes' errors
    records: Any
    last_modified: ServerTime | None
    next_offset: str | None
    number: int


def page_cap(count: int, per_page: int) -> int:
    """The most pages a read of ``count`` records, ``per_page`` at a time, may take:
    what the count needs, plus a margin of 10% and 2 pages (the count is read after the
    first page, and records expire meanwhile)."""
    need = math.ceil(max(count, 0) / max(per_page, 1))
    return need + max(2, need // 10)


class CollectionReader:
    """Iterates a collection's records page by page (``limit``/``offset``).

    Every page after the first repeats the same parameters plus ``offset``, and sends
    ``X-If-Unmodified-Since`` = the first page's ``X-Last-Modified``: a concurrent
    write shows as :class:`CollectionChanged` instead of a torn read.
    After (or during) iteration: ``last_modified``, ``pages_read``, ``records_read``,
    ``max_pages`` (the cap, once known; pass it to skip asking the server for counts).
    With ``columns=True`` (and ``full``) each page's records are one
    :class:`~synctools.protocol._columns.BSOColumns` (no Python object per record).
    """

    def __init__(
        self,
        client: StorageClient,
        collection: str,
        params: dict[str, str],
        *,
        full: bool,
        progress: bool,
        total: int | None,
        max_pages: int | None = None,
        columns: bool = False,
    ) -> None:
        self.client = client
        self.columns = columns and full
        self.collection = collection
        self.params = params
        self.full = full
        self.progress = progress
        self.total = total
        self.max_pages = max_pages
        self.last_modified: ServerTime | None = None
        self.pages_read = 0
        self.records_read = 0

    def pages(self) -> Iterator[Page]:
        """Each page as it arrives (a generator: nothing is read before the first page is
        asked for). The next page's request is sent as soon as this page's headers name
        it, while this page's JSON is parsed here (:meth:`_answers` runs in a thread, one
        answer ahead), so the server is never idle while the client parses."""
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.total, desc=f"GET {self.collection}", unit="rec")
        try:
            with prefetch(self._answers(), depth=1) as answers:
                for answer in answers:
                    records, problem = answer.records, answer.problem
                    if records is None:  # pages after the first: parsed here, not in the fetching thread
                        records = self._checked_records(answer.resp, answer.number)
                        if answer.offset is not None and not len(records):  # (the first: in _check_offset)
                            problem = self._empty_announces_more(answer.resp)
                    self.pages_read += 1
                    self.records_read += len(records)
                    if bar is not None:
                        bar.update(len(records))
                    if problem is not None:  # the offset it names is refused: the read ends here
                        raise problem
                    yield Page(records, self.last_modified, answer.offset, self.pages_read)
        finally:
            if bar is not None:
                bar.close()

    def _answers(self) -> Iterator[_Answer]:
        """The requests of a read, in order, each sent as soon as the one before names its
        offset. The checks that decide whether to ask for more run here: an offset too
        long or already used, and the cap of pages (which needs the first page's record
        count, so the first page is parsed here). A refused offset travels with its page
        as ``problem`` (raised after the page's own checks, as one reader would), and no
        further request is sent."""
        offset: str | None = None
        used: set[str] = set()
        asked = 0
        while True:
            asked += 1
            resp = self._get(offset, asked)
            if self.last_modified is None:
                self.last_modified = server_time(resp, self.client, "X-Last-Modified")
            offset = resp.headers.get("X-Weave-Next-Offset") or None
            records = self._checked_records(resp, asked) if asked == 1 else None
            problem: Exception | None = None
            if offset is not None:
                try:
                    self._check_offset(resp, offset, used, asked, None if records is None else len(records))
                except Exception as exc:  # noqa: BLE001 - raised by pages(), after this page's own checks
                    problem = exc
            yield _Answer(resp, records, offset, asked, problem)
            if offset is None or problem is not None:
                return

    def _checked_records(self, resp: requests.Response, number: int) -> Any:
        """A page's records, parsed and checked against the count its headers say."""
        records = self._records(resp, number)
        self._check_count(resp, len(records))
        return records

    def _empty_announces_more(self, resp: requests.Response) -> Exception:
        # nothing read, yet more to come: records before the offset went missing
        return malformed(resp, self.client, "a page with no records announces another (X-Weave-Next-Offset)")

    def _get(self, offset: str | None, page: int) -> requests.Response:
        params = dict(self.params)
        headers = {}
        if offset is not None:
            params["offset"] = offset
            if self.last_modified is not None:
                headers["X-If-Unmodified-Since"] = str(self.last_modified)
        try:
            return self.client._request("GET", f"/storage/{self.collection}", params=params, headers=headers)
        except PreconditionFailed as exc:
            failed = exc
        raise CollectionChanged(
            f"collection {self.collection!r} changed while it was read page by page "
            f"(first page at {self.last_modified}, now {failed.last_modified}, asking for page {page})",
            failed.response,
            failed.last_modified,
        )

    def _records(self, resp: requests.Response, page: int) -> Any:
        if not self.full:
            return parse_json(resp, self.client, list, _ids)
        now = header_time(resp, "X-Weave-Timestamp")

        def checked(d: list[Any]) -> list[Any]:
            return [bso_from_server(o, f"page {page} #{i}", now) for i, o in enumerate(d)]

        if not self.columns:
            return parse_json(resp, self.client, list, checked)

        # the compiled reader takes a page as columns_from_json would, without the Python
        # objects of the JSON parser on the way (where it is built; else None)
        fast = columns_from_body(resp.content, now)
        if fast is not None:
            return fast

        # columns_from_json takes a page only when bso_from_server would find nothing
        # wrong with any record in it; any other page is read record by record
        def as_columns(d: list[Any]) -> BSOColumns:
            cols = columns_from_json(d, now)
            return BSOColumns.from_bsos(checked(d)) if cols is None else cols

        return parse_json(resp, self.client, list, as_columns)

    def _check_count(self, resp: requests.Response, got: int) -> None:
        """``X-Weave-Records`` says how many records the page holds: a body that holds
        another number lost (or gained) records on the way."""
        said = resp.headers.get("X-Weave-Records", "").strip()
        if said.isascii() and said.isdigit() and int(said) != got:
            raise malformed(resp, self.client, f"X-Weave-Records says {int(said)} records, the body holds {got}")

    def _check_offset(self, resp: requests.Response, offset: str, used: set[str], page: int, got: int | None) -> None:
        """May page ``page`` (which held ``got`` records, when known) announce another?"""
        if got == 0:
            raise self._empty_announces_more(resp)
        if len(offset) > MAX_OFFSET:
            raise malformed(resp, self.client, f"X-Weave-Next-Offset is {len(offset)} characters long")
        if offset in used:
            raise malformed(
                resp, self.client,
                f"X-Weave-Next-Offset repeats an offset already read (after {page} pages):"
                " the server is paging in a loop",
            )  # fmt: skip
        used.add(offset)
        if self.max_pages is None and got is not None:  # the first page: its count sets the cap
            self.max_pages = self._cap_from_counts(got)
        if self.max_pages is not None and page >= self.max_pages:
            raise malformed(
                resp, self.client,
                f"X-Weave-Next-Offset announces page {page + 1}, but the collection"
                f" holds at most {self.max_pages} pages (info/collection_counts, with a margin):"
                " the server is paging without end",
            )  # fmt: skip

    def _cap_from_counts(self, first_page: int) -> int:
        try:
            count = self.client.info_collection_counts().get(self.collection, 0)
        except NotFound:
            count = 0
        # what the first page held, if the server pages below our limit (its own maximum)
        limit = self.params.get("limit")
        per_page = first_page if limit is None else min(int(limit), first_page or int(limit))
        return page_cap(count, per_page)

    def __iter__(self) -> Iterator[Any]:
        for page in self.pages():
            yield from page.records

    def all(self) -> list[Any]:
        return list(self)


def _ids(data: list[Any]) -> list[str]:
    if not all(type(x) is str for x in data):
        raise AnswerShapeError("an id listing holds a non-string entry")
    return data
