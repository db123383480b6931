"""Each promise of the client against a hostile server, tried on its own (issues 11, 12).

The parametrized suite (test_hostile_server.py) throws every mangling at every answer;
these tests pin down one behaviour each, with the numbers that make it a promise.
"""

from __future__ import annotations

import time

import pytest

from synctools import Sync, net
from synctools.net.reader import page_cap
from synctools.protocol.bso import BSO, ServerTime

from .conftest import COUNTS, PAGE_SIZE, seed
from .harness import drive, leaks, secrets_seen, texts_of
from .manglings import BY_NAME, endless_pager, rule
from .proxy import Answer, Request, Rule


def _sync(proxied, account, **kw):
    sync = Sync.local(proxied, email=account.email, password=account.password, page_size=PAGE_SIZE, **kw)
    sync.run(until="exchange_token")
    return sync


# ----------------------------------------------------------------------------- deadline


def test_a_trickling_answer_is_cut_at_the_deadline_not_the_read_timeout(proxied):
    """One byte every 0.25 s never trips a 60 s read timeout (the answer would take
    minutes): the 1.5 s overall deadline ends it, with an error naming the request."""
    account = seed(proxied.stack)
    sync = _sync(proxied, account)
    sync.storage.session.deadline = 1.5
    assert sync.storage.session.timeout == 60.0
    proxied.proxy.arm(rule(BY_NAME["info-collections"], "trickle"))
    t0 = time.monotonic()
    with pytest.raises(net.DeadlineExceeded) as err:
        sync.storage.info_collections()
    elapsed = time.monotonic() - t0
    assert 1.4 < elapsed < 3.0, elapsed
    assert "GET /info/collections" in str(err.value) and "1.5 s deadline" in str(err.value)
    assert err.value.deadline == 1.5
    # the cut connection is not reused: the next request goes through normally
    proxied.proxy.arm(None)
    assert "bookmarks" in sync.storage.info_collections()


def test_the_default_deadline_is_configurable_for_every_client(proxied, monkeypatch):
    monkeypatch.setattr(net.http, "DEFAULT_DEADLINE", 7.0)
    client = net.TokenServerClient(proxied.token_url)
    assert client.session.deadline == 7.0
    assert net.FxaClient(proxied.auth_url, deadline=2.0).auth_session.deadline == 2.0


def test_a_trickled_login_is_cut_too(proxied):
    account = seed(proxied.stack)
    outcome = drive(proxied, account, rule(BY_NAME["login"], "trickle"), deadline=1.0)
    assert isinstance(outcome.error, net.DeadlineExceeded)
    assert "POST /account/login" in str(outcome.error)


# ------------------------------------------------------------------------------ paging


def test_a_repeated_next_offset_stops_the_read_at_once(proxied):
    account = seed(proxied.stack)
    sync = _sync(proxied, account)
    mangle, intercept = endless_pager(fresh=False)
    proxied.proxy.arm(Rule("GET", r"/storage/bookmarks$", mangle, 1, intercept))
    reader = sync.storage.iter_collection("bookmarks", full=True, limit=PAGE_SIZE)
    with pytest.raises(net.StorageError, match="X-Weave-Next-Offset repeats") as err:
        reader.all()
    assert reader.pages_read == 2 and "GET /storage/bookmarks" in str(err.value)


def test_endless_fresh_offsets_stop_at_the_cap_from_collection_counts(proxied):
    """A server inventing a new offset for every page: the read stops after what
    info/collection_counts allows (7 records, 3 a page: 3 pages + a margin of 2)."""
    account = seed(proxied.stack)
    sync = _sync(proxied, account)
    mangle, intercept = endless_pager(fresh=True)
    proxied.proxy.arm(Rule("GET", r"/storage/bookmarks$", mangle, 1, intercept))
    mark = len(sync.trace_log)
    reader = sync.storage.iter_collection("bookmarks", full=True, limit=PAGE_SIZE)
    with pytest.raises(net.StorageError, match="X-Weave-Next-Offset announces page") as err:
        reader.all()
    cap = page_cap(COUNTS["bookmarks"], PAGE_SIZE)
    assert cap == 5 and reader.max_pages == cap and reader.pages_read == cap
    gets = [e.url for e in sync.trace_log.exchanges[mark:]]
    assert len(gets) == cap + 1 and sum("collection_counts" in u for u in gets) == 1
    assert "info/collection_counts" in str(err.value)


@pytest.mark.parametrize("page", [1, 2])  # the first page is checked where it is fetched, later ones where parsed
@pytest.mark.parametrize("keep_count", [True, False])
def test_a_page_that_lost_its_records_is_an_error_not_a_silent_gap(proxied, keep_count, page):
    """Page 1 or 2 emptied on the way: with X-Weave-Records (3) the count disagrees;
    without it, an empty page still announces another. Reading on would skip 3 records
    for good."""
    account = seed(proxied.stack)

    def mangle(a: Answer, req: Request) -> Answer:
        a.body = b"[]"
        if not keep_count:
            a.set_header("X-Weave-Records", None)
        return a

    outcome = drive(proxied, account, Rule("GET", r"/storage/bookmarks$", mangle, page))
    assert isinstance(outcome.error, net.StorageError)
    said = "X-Weave-Records says 3 records, the body holds 0" if keep_count else "a page with no records announces"
    assert said in str(outcome.error) and "GET /storage/bookmarks" in str(outcome.error)
    assert outcome.sync.store.last_sync("bookmarks") == 0  # nothing recorded as read


def test_every_page_read_is_in_the_mirror_when_the_download_returns(proxied):
    """The mirror is written while later pages are read (stages/_pipeline.MirrorWriter);
    when download() returns, every page is there, and so are the pages of a read cut
    short by a 412 on page 3, and nothing after them."""
    account = seed(proxied.stack)
    sync = _sync(proxied, account)
    sync.run(until="fetch_crypto_keys")
    sync.download(["bookmarks"])
    assert sync.store.mirror_collections()["bookmarks"] == COUNTS["bookmarks"]
    assert len(sync.records("bookmarks")) == COUNTS["bookmarks"]

    cut = _sync(proxied, account)  # a store of its own (in memory)
    cut.run(until="fetch_crypto_keys")
    proxied.proxy.arm(Rule("GET", r"/storage/bookmarks$", lambda a, r: Answer(412, a.headers, b"0"), nth=3))
    cut.download(["bookmarks"])
    assert cut.store.mirror_collections()["bookmarks"] == 2 * PAGE_SIZE
    assert len(cut.records("bookmarks")) == 2 * PAGE_SIZE


# -------------------------------------------------------------------- server times


@pytest.mark.parametrize("endpoint", ["bookmarks-page-1", "info-collections", "commit"])
def test_a_future_x_last_modified_is_refused_not_kept_as_a_guard(proxied, endpoint):
    account = seed(proxied.stack)
    outcome = drive(proxied, account, rule(BY_NAME[endpoint], "x-last-modified-future"))
    assert isinstance(outcome.error, net.StorageError)
    text = str(outcome.error)
    assert "X-Last-Modified (99999999999.99) is after the answer's own X-Weave-Timestamp" in text
    if endpoint == "commit":
        assert "may have applied the write" in text
    for collection in COUNTS:
        assert outcome.sync.store.last_sync(collection) < ServerTime.parse(int(time.time()) + 3600)


# ------------------------------------------------------------------------------ secrets


CREDENTIAL_ENDPOINTS = ["login", "account-keys", "oauth-token", "scoped-key-data", "tokenserver"]
RESHAPES = ["cut-after-secret", "truncate", "object-to-list", "list-in-object", "all-nulls", "status-400-list"]


@pytest.mark.parametrize("reshape", RESHAPES)
@pytest.mark.parametrize("endpoint", CREDENTIAL_ENDPOINTS)
def test_no_secret_of_a_malformed_credential_answer_shows_anywhere(proxied, endpoint, reshape):
    """repr(err.response), str(err), args, the chain, the traceback and the trace hold no
    12 characters in a row of any token, key or bundle the answer carried."""
    account = seed(proxied.stack)
    r = rule(BY_NAME[endpoint], reshape)
    outcome = drive(proxied, account, r)
    assert isinstance(outcome.error, net.NetError), outcome.error
    secrets = secrets_seen(proxied, account)
    assert r.original is not None
    carried = [s for s in secrets if s in r.original.body.decode()]
    assert carried or endpoint == "scoped-key-data"  # the mangled answer did hold secrets
    assert leaks(secrets, texts_of(outcome)) == []
    response = outcome.error.response  # type: ignore[attr-defined]
    if response is not None and response.status < 400:
        assert "withheld" in response.body


def test_error_bodies_of_credential_services_are_scrubbed(proxied):
    """A 400 whose body quotes something token-shaped shows a fingerprint instead."""
    token = "a1b2c3d4e5f6" * 5

    def mangle(a: Answer, req: Request) -> Answer:
        a.status, a.body = (
            400,
            b'{"code":400,"errno":110,"message":"bad token %s","sessionToken":"%s"}' % (token.encode(), token.encode()),
        )
        return a

    account = seed(proxied.stack)
    outcome = drive(proxied, account, Rule("POST", r"^/v1/oauth/token$", mangle))
    assert isinstance(outcome.error, net.FxaError) and outcome.error.errno == 110
    assert token[:12] not in repr(outcome.error.response) and "<fp " in outcome.error.response.body


# ------------------------------------------------------------------------------ records


def test_malformed_records_are_rows_with_their_error_and_the_rest_loads(proxied):
    """Wrong types in one page's envelopes: each such record is a row whose error names
    the field; the others decrypt; the rows survive a new Sync on the same store."""
    account = seed(proxied.stack)

    def mangle(a: Answer, req: Request) -> Answer:
        import json

        page = json.loads(a.body)
        page[0]["sortindex"] = "high"
        page[1]["id"] = 12345
        page[2]["payload"] = {"ciphertext": 1}
        a.body = json.dumps(page).encode()
        return a

    outcome = drive(proxied, account, Rule("GET", r"/storage/bookmarks$", mangle))
    assert outcome.error is None, outcome.error
    sync = outcome.sync
    frame = sync.frame("bookmarks")
    assert len(frame) == COUNTS["bookmarks"]
    errors = sync.errors("bookmarks")
    assert sorted(errors["reason"]) == ["bad-envelope"] * 3
    text = " ".join(errors["error"])
    assert "sortindex is a string" in text and "id is a number" in text and "payload is an object" in text
    assert len(sync.records("bookmarks")) == COUNTS["bookmarks"] - 3
    # after a restart: the mirror still says why (never "healthy" on a second read)
    again = Sync.local(proxied, email=account.email, password=account.password, store=sync.store)
    again.run(until="fetch_crypto_keys")
    assert len(again.records("bookmarks")) == COUNTS["bookmarks"] - 3  # decrypted from the store
    assert sorted(again.errors("bookmarks")["reason"]) == ["bad-envelope"] * 3


def test_a_token_whose_api_endpoint_has_no_scheme_is_refused(proxied):
    account = seed(proxied.stack)
    outcome = drive(proxied, account, rule(BY_NAME["tokenserver"], "drop-scheme"))
    assert isinstance(outcome.error, net.TokenServerError)
    assert "api_endpoint" in str(outcome.error) and "http://" in str(outcome.error)
    token = net.Token(id="i" * 20, key="k" * 20, uid=1, api_endpoint="node.example/1.5/1", duration=60,
                      expires_at=outcome.sync.trace_log.exchanges[0].started)  # fmt: skip
    with pytest.raises(net.StorageError, match="api_endpoint"):
        net.StorageClient(token)


def test_the_local_store_keeps_records_of_wrong_types_without_a_crash():
    """Whatever a BSO holds, the mirror stores it (NULL for an unusable number, text for a
    payload that is not a string) and gives it back."""
    from synctools.store import Store

    store = Store(None)
    odd = [BSO("a", {"x": 1}, ServerTime(5), "high", 2**70),  # type: ignore[arg-type]
           BSO(7, "p", None, True, -(2**70)),  # type: ignore[arg-type]
           BSO("c", None, ServerTime(9), 1.5, [1])]  # type: ignore[arg-type]  # fmt: skip
    assert store.upsert_mirror("things", [(b, None) for b in odd]) == 3
    back = {m.bso.id: m.bso for m in store.mirror("things")}
    assert set(back) == {"a", "7", "c"}
    assert back["a"].payload == '{"x": 1}' and back["a"].sortindex is None and back["a"].ttl is None
    assert back["c"].payload == "null" and back["c"].modified == ServerTime(9)


# ------------------------------------------------------------------------- device list


@pytest.mark.parametrize("body", [b'{"devices": []}', b'[{"id": "a"}, 7]', b"[", b'"x"'])
def test_a_malformed_device_list_skips_the_device_checks_and_says_why(proxied, body):
    """The device list is a JSON array (FxA's /account/devices): the merge of the client's
    strict answers once refused every real one, and the doctor silently skipped its checks.
    A list that is not one is an error naming the endpoint, and the doctor still runs."""
    from synctools import doctor

    account = seed(proxied.stack)
    sync = _sync(proxied, account)
    assert isinstance(sync.session.devices(), list)  # the real answer reads
    proxied.proxy.arm(Rule("GET", r"/account/devices$", lambda a, r: Answer(a.status, a.headers, body), nth=1))
    with pytest.raises(net.FxaError, match="GET /account/devices"):
        sync.session.devices()
    proxied.proxy.arm(Rule("GET", r"/account/devices$", lambda a, r: Answer(a.status, a.headers, body), nth=1))
    report = doctor.check(sync)
    assert not report.of("doctor.check-failed") and report.of("bookmarks.root-missing")


def test_a_412_on_page_two_warns_and_the_commit_then_waits_for_a_new_download(proxied):
    """Found by the long client fuzz: the server answers page 2 of bookmarks with 412. The
    download keeps page 1, says the collection changed during the read, and a commit to
    bookmarks then refuses (naming the collection and the cure) until it is read again."""
    from synctools.states import StageOrderError

    account = seed(proxied.stack)
    sync = Sync.local(proxied, email=account.email, password=account.password, page_size=PAGE_SIZE)
    proxied.proxy.arm(Rule("GET", r"/storage/bookmarks$", lambda a, r: Answer(412, a.headers, b"0"), nth=2))
    sync.run(until="download")
    (row,) = [r for r in sync.results["download"].collections if r["collection"] == "bookmarks"]
    assert row["errors"] == "changed during read"
    assert any("changed while it was read" in w for w in sync.results["download"].warnings)
    rid = sorted(sync.records("bookmarks"))[0]
    sync.edit("bookmarks", rid, {"title": "after a cut read"})
    sync.merge()
    with pytest.raises(StageOrderError, match=r"bookmarks has records on the server that were not downloaded"):
        sync.commit(sync.plan_upload())
    proxied.proxy.arm(None)
    sync.download(["bookmarks"])
    assert len(sync.frame("bookmarks")) == COUNTS["bookmarks"]
    sync.merge()
    assert sync.commit(sync.plan_upload()).status == "committed"
