"""``check_server``: a self-hosted sync setup, checked link by link.

Given a tokenserver URL (and an account, or a storage token for a bare node), it walks
what Firefox does — reach the server, its Dockerflow health checks, the tokenserver's
path, sign in, trade the OAuth token for a storage token, use it on the node — and stops
at the first broken link with what is wrong and how to fix it. A node that refuses a
fresh token is asked again with requests signed for the path without the proxy's
prefix, for the hosts a proxy might pass on, and with the node's own clock, so that a
path prefix, a rewritten Host, clock skew and a wrong master secret (which all look like
the same ``401`` with body ``0`` from syncstorage-rs) are told apart.

Everything is read-only: GETs, a tokenserver exchange, and one unauthenticated POST of
``max_request_bytes`` that nothing can store (it finds a proxy's body-size limit; turn
it off with ``probe_body_limit=False``). Secrets never appear in the report: tokens and
keys as fingerprints only. The rules it judges by are in :mod:`.server_rules`.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import mohawk
import requests

from synctools import net
from synctools.errors import SynctoolsError
from synctools.net.http import Trace, TracedSession, fp
from synctools.net.tokenserver import SYNC_PATH, Token, TokenServerClient
from synctools.protocol import tokens
from synctools.protocol.keys import OLDSYNC_SCOPE, SyncKeys, parse_kid

from . import server_rules as R
from .model import CHECKS, SEVERITIES, Finding, Report

#: where self-hosted tokenservers usually sit under a host: syncstorage-rs at the root,
#: the old Python syncserver under /token, and the prefixes proxies give them
USUAL_PREFIXES = ("", "/token", "/tokenserver", "/sync", "/ff-sync", "/firefox-sync", "/fxsync", "/syncserver")
PROBE_COLLECTION = "synctools-check-server"
#: FxA errnos for a client id or scope it will not grant: unknown client_id, scopes not allowed
SCOPE_ERRNOS = (162, 169)
MAX_PROBE_BYTES = 4 * 1024 * 1024
STEP_MARK = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "note": "note", "skip": "skip"}


class CheckServerError(SynctoolsError, ValueError):
    """check_server was called with arguments it cannot work with."""


@dataclass(frozen=True)
class Step:
    """One link of the walk: ``status`` is ok, fail, warn, note or skip."""

    name: str
    status: str
    detail: str


class ServerReport(Report):
    """The doctor's report for a server: the findings, plus the steps walked."""

    def __init__(self, findings: list[Finding], steps: list[Step], target: str) -> None:
        super().__init__(findings, context={"target": target})
        self.steps = steps
        self.target = target

    @property
    def ok(self) -> bool:
        return not any(f.severity in ("error", "warning") for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def one_line(self) -> str | None:
        """One line for a server that is not there at all (unreachable, TLS, not a Sync
        server): nothing else in the report says more."""
        if len(self.findings) == 1 and self.findings[0].check in (R.UNREACHABLE, R.TLS, R.NOT_SYNC):
            f = self.findings[0]
            return f"{f.check}: {f.explanation}"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ok": self.ok,
            "steps": [s.__dict__ for s in self.steps],
            "findings": [
                {"check": f.check, "severity": f.severity, "explanation": f.explanation, "facts": f.facts}
                for f in self.findings
            ],
        }

    def _headline(self) -> str:
        if self.ok:
            return f"synctools check-server: {self.target} — no problems found"
        names = ", ".join(dict.fromkeys(f.check for f in self.findings))
        return f"synctools check-server: {self.target} — {len(self.findings)} problem(s): {names}"

    def __str__(self) -> str:
        lines = [self._headline()]
        lines += [f"  {STEP_MARK.get(s.status, s.status):4} {s.name:<12} {s.detail}" for s in self.steps]
        for f in self.findings:
            lines += ["", f"[{f.severity.upper()}] {f.check}", f"    {f.explanation}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"<ServerReport {self.target}: {c['error']} error(s), {c['warning']} warning(s), {len(self.steps)} steps>"
        )

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(s.status)}</td><td>{esc(s.name)}</td><td style='text-align:left'>{esc(s.detail)}</td></tr>"
            for s in self.steps
        )
        found = "".join(
            f"<tr><td><b>{esc(f.severity)}</b></td><td><code>{esc(f.check)}</code></td>"
            f"<td style='text-align:left'>{esc(f.explanation)}</td></tr>"
            for f in self.findings
        )
        parts = [
            f"<div class='synctools-doctor'><h4>{esc(self._headline())}</h4>",
            f"<table><tr><th>step</th><th>link</th><th style='text-align:left'>what</th></tr>{rows}</table>",
        ]
        if found:
            parts.append(f"<table><tr><th>severity</th><th>check</th><th style='text-align:left'>what is wrong "
                         f"and how to fix it</th></tr>{found}</table>")  # fmt: skip
        return "".join(parts) + "</div>"


class _Stop(Exception):
    """The walk reached a broken link: the finding is recorded, nothing after it runs."""


class _NoAnswer(Exception):
    def __init__(self, check: str, what: str):
        super().__init__(what)
        self.check, self.what = check, what


def check_server(
    token_url: str | None = None,
    *,
    auth_url: str | None = None,
    oauth_url: str | None = None,
    email: str | None = None,
    password: str | None = None,
    session: net.FxaSession | None = None,
    storage_token: Token | dict[str, Any] | None = None,
    node_url: str | None = None,
    secret: str | None = None,
    uid: int | None = None,
    totp: str | Callable[[], str] | None = None,
    code: str | Callable[[], str] | None = None,
    timeout: float = 10.0,
    probe_body_limit: bool = True,
) -> ServerReport:
    """Check a self-hosted setup and return a :class:`ServerReport` (never raises for
    what a server does; :class:`CheckServerError` for arguments it cannot use).

    Give ``token_url`` (the tokenserver, full ``…/1.0/sync/1.5`` URL or its base) alone
    to check the server up to the tokenserver; add ``email``/``password`` (and
    ``auth_url`` for your own accounts server; ``totp``/``code`` if the session needs
    verification) or a logged-in ``session`` to check the token and the node too. For a
    bare storage node: ``storage_token`` (a tokenserver answer: ``id``, ``key``, ``uid``,
    ``api_endpoint``, ``duration``), or ``node_url`` + ``secret`` (its master secret) +
    ``uid`` to mint one.
    """
    account = email is not None or session is not None
    bare = storage_token is not None or secret is not None
    for name, url in (
        ("token_url", token_url),
        ("auth_url", auth_url),
        ("oauth_url", oauth_url),
        ("node_url", node_url),
    ):
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise CheckServerError(f"{name} must start with http:// or https://, got {str(url)[:60]!r}")
    if token_url is None and not bare:
        raise CheckServerError(
            "give a tokenserver URL, or a storage token (or node_url, secret and uid) for a bare node"
        )
    if account and token_url is None:
        raise CheckServerError("an account is checked through its tokenserver: give token_url too")
    if email is not None and not password:
        raise CheckServerError("email needs its password")
    if account and bare:
        raise CheckServerError("give an account or a storage token, not both")
    if secret is not None and (node_url is None or uid is None):
        raise CheckServerError("secret needs node_url and uid: the token is minted for that node and storage uid")
    if uid is not None and (isinstance(uid, bool) or not isinstance(uid, int) or uid < 0):
        raise CheckServerError(f"uid must be a storage uid (an integer ≥ 0), got {uid!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise CheckServerError(f"timeout must be between 0 and 600 seconds, got {timeout!r}")

    given = _as_token(storage_token) if storage_token is not None else None
    walk = _Walk(session.trace if session is not None else Trace(), timeout, probe_body_limit)
    for value in (password, secret, *((given.id, given.key) if given else ())):
        walk.trace.add_secret(value)
    target = token_url or node_url or (given.api_endpoint if given is not None else "the node")
    try:
        token: Token | None = None
        how = ""
        ts_url = walk.tokenserver(token_url) if token_url is not None else None
        if account:
            assert ts_url is not None
            token, keys, access = walk.sign_in(ts_url, auth_url, oauth_url, email, password, session, totp, code)
            how = "tokenserver"
        elif given is not None:
            token, how = given, "token"
        elif secret is not None:
            assert node_url is not None and uid is not None
            token, how = walk.mint(node_url, secret, uid), "secret"
        else:
            walk.step("node", "skip", "no account and no storage token given: the token and the node were not checked")
        if token is not None:
            walk.check_token(token, ts_url)
            walk.check_node(token, ts_url, how)
            if account:
                assert ts_url is not None
                walk.key_rollback(ts_url, keys, access)
    except _Stop:
        pass
    return walk.report(target)


class _Walk:
    def __init__(self, trace: Trace, timeout: float, probe_body_limit: bool):
        self.trace = trace
        self.timeout = timeout
        self.probe_body_limit = probe_body_limit
        self.http = TracedSession("check-server", trace, timeout=timeout)
        self.steps: list[Step] = []
        self.findings: list[Finding] = []
        self.reached: set[str] = set()  # origins known to answer

    # -- recording ------------------------------------------------------------------------
    def step(self, name: str, status: str, detail: str) -> None:
        self.steps.append(Step(name, status, detail))

    def find(self, check: str, explanation: str, *, severity: str | None = None, step: str | None = None,
             **facts: Any) -> None:  # fmt: skip
        """Record a finding (and, with ``step``, a failed or warned step named so)."""
        sev = severity or CHECKS[check].severity
        assert sev in SEVERITIES
        if not explanation.startswith(("http://", "https://")):
            explanation = explanation[:1].upper() + explanation[1:]
        self.findings.append(Finding(check, sev, None, [], explanation, facts=facts))
        if step is not None:
            self.step(step, "fail" if sev == "error" else "warn", f"→ {check}")

    def fail(self, check: str, explanation: str, *, step: str | None = None, **facts: Any) -> NoReturn:
        """Record an error finding and stop the walk: this link is broken."""
        self.find(check, explanation, severity="error", step=step, **facts)
        raise _Stop

    def report(self, target: str) -> ServerReport:
        scrub = self.trace.scrub
        findings = [Finding(f.check, f.severity, None, [], scrub(f.explanation),
                            facts={k: scrub(v) if isinstance(v, str) else v for k, v in f.facts.items()})
                    for f in self.findings]  # fmt: skip
        steps = [Step(s.name, s.status, scrub(s.detail)) for s in self.steps]
        return ServerReport(findings, steps, scrub(target))

    # -- plain HTTP -------------------------------------------------------------------------
    def fetch(self, method: str, url: str, *, follow: bool = True, **kw: Any) -> requests.Response:
        try:
            resp = self.http.request(method, url, allow_redirects=follow, **kw)
        except requests.RequestException as exc:
            check, what = R.connect_problem(exc, url)
            raise _NoAnswer(check, what) from None
        self.reached.add(R.Where.of(url).origin)
        return resp

    def hawk_get(
        self, token: Token, url: str, *, sign_url: str | None = None, ts: int | None = None
    ) -> requests.Response:
        """GET ``url`` with a Hawk header signed for ``sign_url`` (another path or host, to
        find what the node checks against) and, if given, the timestamp ``ts``."""
        creds = {"id": token.id, "key": token.key, "algorithm": "sha256"}
        sender = mohawk.Sender(creds, sign_url or url, "GET", always_hash_content=False, _timestamp=ts)
        return self.fetch("GET", url, follow=False, headers={"Authorization": sender.request_header})

    # -- reach, TLS, Dockerflow ----------------------------------------------------------
    def dockerflow(self, base: str, unreachable: str | None = None, what: str = "", fix: str = "") -> None:
        """Reach ``base``'s origin and read ``__heartbeat__``, ``__lbheartbeat__`` and
        ``__version__`` beside ``base`` or at the origin root (where syncstorage-rs has them).
        ``unreachable`` replaces the check id of a refused connection; ``what`` and ``fix``
        frame its explanation."""
        origin = R.Where.of(base).origin
        places = list(dict.fromkeys([base.rstrip("/"), origin]))
        started = time.perf_counter()
        try:
            first = self.fetch("GET", places[0] + "/__heartbeat__")
        except _NoAnswer as exc:
            check = unreachable if unreachable is not None and exc.check == R.UNREACHABLE else exc.check
            self.fail(check, " ".join(x for x in (what + exc.what + ".", fix) if x), step="reach", url=origin)
        self.step("reach", "ok", f"{origin} answers ({1000 * (time.perf_counter() - started):.0f} ms)")
        if first.status_code == 401 and (scheme := R.basic_auth_challenge(first)) is not None:
            self.proxy_auth(first, scheme, origin)
        answers: list[tuple[str, requests.Response | None]] = [(places[0], first)]
        for place in places[1:]:
            if _heartbeat_json(answers[-1][1]) is None:
                answers.append((place, self._quiet_get(place + "/__heartbeat__")))
        found = next(((p, r) for p, r in answers if r is not None and _heartbeat_json(r) is not None), None)
        if found is None:
            self.step("heartbeat", "note", f"no __heartbeat__ beside {base} or at {origin} "
                      f"({R.describe_answer(first)}): not syncstorage-rs, or a proxy hides it")  # fmt: skip
            return
        place, resp = found
        data = _heartbeat_json(resp) or {}
        status, database = str(data.get("status", "?")), str(data.get("database", "?"))
        if resp.status_code != 200 or status.lower() != "ok":
            self.fail(R.HEARTBEAT, f"{place}/__heartbeat__ answers {resp.status_code} with status {status}, database "
                      f"{database}: the server runs but says it is unhealthy, and every sync request that needs the "
                      "database fails. Fix: check that the database is up and that SYNC_SYNCSTORAGE__DATABASE_URL / "
                      "SYNC_TOKENSERVER__DATABASE_URL point to it (the server's log names the error).",
                      step="heartbeat", status=status, database=database)  # fmt: skip
        version = self._quiet_get(place + "/__version__")
        vdata = R.json_body(version) if version is not None and version.status_code == 200 else None
        shown = f", version {vdata.get('version')}" if isinstance(vdata, dict) and vdata.get("version") else ""
        self.step("heartbeat", "ok", f"{place}/__heartbeat__: status {status}, database {database}{shown}")
        lb = self._quiet_get(place + "/__lbheartbeat__")
        if lb is not None and lb.status_code >= 500:
            self.find(
                R.HEARTBEAT,
                f"{place}/__lbheartbeat__ answers {lb.status_code}: the server's database connection "
                "pool is exhausted (or its SYNC_SYNCSTORAGE__LBHEARTBEAT_TTL has run out), so a load balancer "
                "takes it out of service. Fix: raise the pool size (SYNC_SYNCSTORAGE__DATABASE_POOL_MAX_SIZE) "
                "or find what holds the connections; restart it.",
                severity="warning",
                step="lbheartbeat",
            )

    def _quiet_get(self, url: str) -> requests.Response | None:
        try:
            return self.fetch("GET", url)
        except _NoAnswer:
            return None

    def proxy_auth(self, resp: requests.Response, scheme: str, where: str) -> NoReturn:
        self.fail(R.PROXY_AUTH, f"{where} answers 401 with WWW-Authenticate: {scheme} — a reverse proxy in front of "
                  "the Sync services demands its own login, which Firefox never sends (it signs requests with OAuth "
                  "and Hawk instead). Fix: remove the proxy's authentication (auth_basic, AuthType) from the "
                  "locations of the tokenserver and the storage node; restrict access by network if you must.",
                  step="proxy", scheme=scheme)  # fmt: skip

    # -- the tokenserver --------------------------------------------------------------------
    def tokenserver(self, token_url: str) -> str:
        """Reach the server, then find where its tokenserver answers; returns that URL."""
        given = token_url.rstrip("/")
        base = given[: -len(SYNC_PATH)] if given.endswith(SYNC_PATH) else given
        self.dockerflow(base)
        origin = R.Where.of(base).origin
        candidates = list(dict.fromkeys([base, base + "/token", *(origin + p for p in USUAL_PREFIXES)]))
        first: requests.Response | None = None
        for n, cand in enumerate(candidates):
            url = cand + SYNC_PATH
            try:
                resp = self.fetch("GET", url)
            except _NoAnswer as exc:
                if n == 0:
                    self.fail(exc.check, exc.what, step="tokenserver")
                continue
            if n == 0:
                first = resp
                if resp.status_code == 401 and (scheme := R.basic_auth_challenge(resp)):
                    self.proxy_auth(resp, scheme, url)
            answer = R.tokenserver_error(resp)
            if answer is None or resp.status_code == 404:
                continue
            detail = f"{url} answers {resp.status_code} {answer[0]} without credentials, as a tokenserver does"
            if n == 0:
                self.step("tokenserver", "ok", detail)
                return url
            assert first is not None
            self.find(R.TOKEN_PATH, f"{given + ('' if given.endswith(SYNC_PATH) else SYNC_PATH)} does not answer as a "
                      f"tokenserver ({R.describe_answer(first)}), but {url} does. Fix: use {url} — in Firefox as "
                      "identity.sync.tokenserver.uri (about:config, before signing in), and as --token-url / "
                      "token_url here. (syncstorage-rs serves it at /1.0/sync/1.5 under its root; the old Python "
                      "syncserver at /token/1.0/sync/1.5.)", step="tokenserver", found=url)  # fmt: skip
            self.step("tokenserver", "note", f"continuing with {url}")
            return url
        assert first is not None
        tried = ", ".join(c.removeprefix(origin) or "/" for c in candidates)
        self.fail(
            R.NOT_SYNC,
            f"{candidates[0] + SYNC_PATH} answers {R.describe_answer(first)}, not as a tokenserver, and no tokenserver "
            f"answers under {origin} at any usual prefix ({tried}, each + {SYNC_PATH}). Fix: check the URL — "
            "it is the tokenserver's, ending in /1.0/sync/1.5 — and that the proxy forwards that path to "
            "syncstorage-rs.",
            step="tokenserver",
        )

    # -- the account ---------------------------------------------------------------------------
    def sign_in(self, ts_url: str, auth_url: str | None, oauth_url: str | None, email: str | None,
                password: str | None, session: net.FxaSession | None, totp: Any, code: Any,
                ) -> tuple[Token, SyncKeys, str]:  # fmt: skip
        """Log in (or use ``session``), get the keys and the Sync OAuth token, and trade it
        for a storage token, as Firefox does."""
        if session is None:
            assert email is not None and password is not None
            auth = auth_url or net.fxa.PRODUCTION_AUTH_URL
            client = net.FxaClient(auth, oauth_url or (auth if auth_url else net.fxa.PRODUCTION_OAUTH_URL),
                                   trace=self.trace, timeout=self.timeout)  # fmt: skip
            try:
                session = client.login(email, password)
            except net.ServerUnreachable as exc:
                self.fail(R.FXA_UNREACHABLE, f"the accounts server {client.auth_url} does not answer ({exc}). Fix: "
                          "check the URL (--auth-url; Mozilla's is https://api.accounts.firefox.com) and that the "
                          "server runs.", step="accounts")  # fmt: skip
            except net.NetError as exc:
                self.fail(R.ACCOUNT, f"the accounts server {client.auth_url} refused the login: {exc}. Fix: check "
                          "the email and password (and that the account exists on this accounts server).",
                          step="accounts")  # fmt: skip
        assert session is not None
        try:
            if session.needs_verification:
                method = session.verification_method or "email"
                answer = totp if method in ("totp-2fa", "totp") else code
                if answer is None:
                    self.fail(R.ACCOUNT, f"the session needs verification ({method}): pass totp= or code= "
                              "(the command line asks for it).", step="accounts")  # fmt: skip
                value = str(answer() if callable(answer) else answer)
                (session.verify_totp if method in ("totp-2fa", "totp") else session.verify_code)(value)
            keys = session.fetch_keys()
        except net.FxaError as exc:
            if exc.errno in SCOPE_ERRNOS:  # scoped-key-data: this client id may not have the Sync scope
                self.fail(
                    R.OAUTH_SCOPE,
                    f"the accounts server does not give client id {session.client.client_id} "
                    f"the Sync scope ({exc}): it grants {OLDSYNC_SCOPE} only to Mozilla's own clients "
                    f"(Firefox desktop is {net.fxa.FIREFOX_CLIENT_ID}). Fix: sign in as Firefox does; on a "
                    "self-hosted accounts server, allow that client id the oldsync scope.",
                    step="oauth",
                )
            self.fail(R.ACCOUNT, f"the accounts server refused: {exc}.", step="accounts")
        except net.NetError as exc:
            self.fail(R.ACCOUNT, f"the accounts server refused: {exc}.", step="accounts")
        try:
            oauth = session.oauth_token()
        except net.ServerUnreachable as exc:
            self.fail(R.FXA_UNREACHABLE, f"the accounts server stopped answering when asked for the OAuth token "
                      f"({exc}). Fix: check that it runs, and retry.", step="oauth")  # fmt: skip
        except net.NetError as exc:
            self.fail(R.OAUTH_SCOPE, f"the accounts server refused an OAuth token for Sync ({exc}): it grants the "
                      f"scope {OLDSYNC_SCOPE} only to Mozilla's own client ids (Firefox desktop is "
                      f"{net.fxa.FIREFOX_CLIENT_ID}). Fix: on a self-hosted accounts server, allow that client id "
                      "the oldsync scope.", step="oauth")  # fmt: skip
        if OLDSYNC_SCOPE not in oauth.scope.split():
            self.fail(R.OAUTH_SCOPE, f"the OAuth token was granted the scope {oauth.scope!r}, without {OLDSYNC_SCOPE}: "
                      "the tokenserver refuses it. Fix: on a self-hosted accounts server, allow Firefox's client id "
                      "the oldsync scope.", step="oauth")  # fmt: skip
        self.step("accounts", "ok", f"{session.email or 'the account'} signed in; keys {keys.kid.split('-')[0]}-…; "
                  f"OAuth token {fp(oauth.access_token)} with the Sync scope")  # fmt: skip
        client_ts = TokenServerClient(ts_url, trace=self.trace, timeout=self.timeout)
        try:
            token = client_ts.exchange(oauth.access_token, keys)
        except net.NetError as exc:
            self.token_refused(exc, ts_url, keys)
        self.step("tokenserver", "ok", f"X-KeyID {keys.kid.split('-')[0]}-… accepted; storage token issued")
        return token, keys, oauth.access_token

    def token_refused(self, exc: net.NetError, ts_url: str, keys: SyncKeys) -> NoReturn:
        desc = getattr(exc, "description", "") or str(exc)
        if isinstance(exc, net.InvalidCredentials):
            self.fail(R.OAUTH_SERVER, f"the tokenserver refused the OAuth token the accounts server just issued "
                      f"({desc}): it verifies tokens with another accounts server. Fix: point "
                      "SYNC_TOKENSERVER__FXA_OAUTH_SERVER_URL at the accounts server you sign in with "
                      "(https://oauth.accounts.firefox.com for Mozilla accounts), and let the tokenserver reach it "
                      "(its JWKS, or /v1/verify).", step="tokenserver")  # fmt: skip
        if isinstance(exc, net.InvalidKeyId):
            self.fail(R.KEY_ID, f"the tokenserver refused X-KeyID {keys.kid.split('-')[0]}-… ({desc}). Fix: a "
                      "tokenserver too old for OAuth key ids needs upgrading to syncstorage-rs.",
                      step="tokenserver")  # fmt: skip
        if isinstance(exc, net.InvalidClientState | net.InvalidKeysChangedAt | net.InvalidGeneration):
            self.fail(R.CLIENT_STATE, f"the tokenserver refused this account's keys ({desc}): it has seen newer keys "
                      "for the account (keysChangedAt may only grow, and a replaced client state is never accepted "
                      "again). The keys used here are stale — a password reset since, or the tokenserver's database "
                      "restored from another time. Fix: sign in again to get the current keys; if the database was "
                      "restored, that is the cause.", step="tokenserver")  # fmt: skip
        if isinstance(exc, net.NewUsersDisabled):
            self.fail(
                R.NEW_USERS,
                "the tokenserver refuses accounts it has not seen (new-users-disabled). Fix: set "
                "SYNC_TOKENSERVER__ALLOW_NEW_USERS=true (or allow_new_users) until every account has synced once.",
                step="tokenserver",
            )
        if isinstance(exc, net.ServerUnreachable):
            self.fail(R.UNREACHABLE, f"the tokenserver {ts_url} stopped answering: {exc}", step="tokenserver")
        if "unable to get a node" in desc or "no available node" in desc.lower():
            self.fail(R.NO_NODE, f"the tokenserver answered: {desc}. It has no storage node to assign: its nodes "
                      "table (or the services row 'sync-1.5' it refers to) is empty. Fix: set "
                      "SYNC_TOKENSERVER__INIT_NODE_URL to the public URL of the node (the URL clients reach it at) "
                      "and restart, or insert the services and nodes rows by hand.", step="tokenserver")  # fmt: skip
        self.fail(R.TOKENSERVER_ERROR, f"the tokenserver failed: {exc}. Fix: read the tokenserver's log for this "
                  "request.", step="tokenserver")  # fmt: skip

    def mint(self, node_url: str, secret: str, uid: int) -> Token:
        node = node_url.rstrip("/")
        data = {"uid": uid, "node": node, "fxa_uid": "synctools-check-server", "fxa_kid": "0-check",
                "hashed_fxa_uid": "", "hashed_device_id": ""}  # fmt: skip
        token_id = tokens.make_token(data, secret, 300)
        token = Token.from_json({"id": token_id, "key": tokens.derived_secret(token_id, secret), "uid": uid,
                                 "api_endpoint": f"{node}/1.5/{uid}", "duration": 300})  # fmt: skip
        self.trace.add_secret(token.id)
        self.trace.add_secret(token.key)
        return token

    def check_token(self, token: Token, ts_url: str | None) -> None:
        detail = (f"uid {token.uid}, node {token.node}, node_type {token.node_type or '-'}, valid {token.duration} s, "
                  f"id {fp(token.id)}, key {fp(token.key)}")  # fmt: skip
        self.step("token", "ok", detail)
        errors, warnings = R.endpoint_problems(token.api_endpoint, token.uid, ts_url)
        fix = ("Fix: set the node's URL in the tokenserver's nodes table (SYNC_TOKENSERVER__INIT_NODE_URL, or the "
               "node column) to the public URL clients reach the server at, with its scheme, host, port and "
               "any proxy prefix.")  # fmt: skip
        if errors:
            self.fail(R.PUBLIC_URL, "; ".join(errors) + ". " + fix, step="token")
        if warnings:
            self.find(R.PUBLIC_URL, "; ".join(warnings) + ". " + fix, severity="warning")
        if token.duration < 60:
            self.find(R.TOKEN_DURATION, f"tokens are valid {token.duration} s only: a first sync of a large account "
                      "takes longer, and every expiry costs a new token exchange. Fix: set "
                      "SYNC_TOKENSERVER__TOKEN_DURATION to 3600 (the default).", duration=token.duration)  # fmt: skip

    # -- the node -------------------------------------------------------------------------------
    def check_node(self, token: Token, ts_url: str | None, how: str) -> None:
        ep = token.api_endpoint.rstrip("/")
        via_ts = how == "tokenserver"
        if R.Where.of(ep).origin not in self.reached:
            self.dockerflow(
                token.node,
                R.PUBLIC_URL if via_ts else None,
                f"the node URL the tokenserver hands out ({token.node}) cannot be reached from here: "
                if via_ts
                else "",
                "Fix: set the node's URL in the tokenserver's nodes table (SYNC_TOKENSERVER__INIT_NODE_URL, or the "
                "node column) to the public URL clients reach the server at — scheme, host, port and any proxy "
                "prefix — not an internal address such as http://localhost:8000."
                if via_ts
                else "",
            )
        answers: list[requests.Response] = []
        try:
            coll = self.hawk_get(token, ep + "/info/collections")
            answers.append(coll)
            if coll.status_code != 200:
                self.node_refused(coll, token, how, coll_ok=False)
            collections = R.json_body(coll)
            if not isinstance(collections, dict):
                self.fail(R.PUBLIC_URL if via_ts else R.NODE_ERROR, f"the node URL {token.node} answers "
                          f"{R.describe_answer(coll)} for info/collections, not a storage node's JSON object: the URL "
                          "leads to another site or a catch-all page. Fix: make the node URL (the tokenserver's nodes "
                          "table) the public URL of syncstorage-rs, and check the proxy forwards /1.5/ to it.",
                          step="node")  # fmt: skip
            conf = self.hawk_get(token, ep + "/info/configuration")
            answers.append(conf)
            if conf.status_code not in (200, 404):
                self.node_refused(conf, token, how, coll_ok=True)
            self.step("node", "ok", f"info/collections 200 ({len(collections)} collections), info/configuration "
                      f"{conf.status_code}")  # fmt: skip
            quota = self.hawk_get(token, ep + "/info/quota")
            answers.append(quota)
        except _NoAnswer as exc:
            self.fail(R.PUBLIC_URL if via_ts and exc.check == R.UNREACHABLE else exc.check, exc.what, step="node")
        self.clock(answers, token)
        config = R.json_body(conf) if conf.status_code == 200 else None
        self.limits(config, conf.status_code)
        self.quota(answers, quota)
        if self.probe_body_limit:
            self.body_limit(ep, config)

    def node_refused(self, resp: requests.Response, token: Token, how: str, *, coll_ok: bool) -> NoReturn:
        path = resp.request.path_url if resp.request is not None else ""
        said = R.describe_answer(resp)
        if resp.status_code == 401:
            self.diagnose_401(resp, token, how, coll_ok)
        if 300 <= resp.status_code < 400:
            self.fail(
                R.PUBLIC_URL,
                f"the node answers {resp.status_code} to {path}, redirecting to "
                f"{resp.headers.get('Location', '?')}: a redirected Hawk request no longer matches its signature. "
                "Fix: put the final URL (scheme, host, port) in the tokenserver's nodes table.",
                step="node",
            )
        if resp.status_code == 404:
            self.fail(R.PUBLIC_URL, f"the node URL {token.node} answers {said} for {path}: no storage node serves "
                      "/1.5/{uid} there. The node URL in the tokenserver's nodes table lacks the path prefix the "
                      "proxy serves syncstorage-rs under (or has one too many), or points at another site. Fix: make "
                      "the nodes table's URL the public URL of the node, prefix included.", step="node")  # fmt: skip
        self.fail(R.NODE_ERROR, f"the storage node answers {said} for {path}. Fix: read the node's log for this "
                  "request; __heartbeat__ above says whether its database is reachable.", step="node")  # fmt: skip

    def diagnose_401(self, first: requests.Response, token: Token, how: str, coll_ok: bool) -> NoReturn:
        """Tell apart what makes a node refuse a fresh token (syncstorage-rs answers all
        of them alike: 401, body ``0``) by asking again with other signatures."""
        if (scheme := R.basic_auth_challenge(first)) is not None or R.is_html(first):
            self.proxy_auth(first, scheme or "(an HTML login page)", token.node)
        local = time.time()
        node_t = R.server_time(first)
        skew = node_t - local if node_t is not None else None
        said = (f"401 {R.describe_answer(first).removeprefix('401 ')}, WWW-Authenticate: "
                f"{first.headers.get('WWW-Authenticate', '(none)')}")  # fmt: skip
        self.step("node", "fail", f"a fresh token is refused: {said}")
        challenge = R.hawk_challenge(first.headers.get("WWW-Authenticate"))
        if "stale" in challenge.get("error", "").lower() and challenge.get("ts"):
            skew = float(challenge["ts"]) - local
            self.fail(R.CLOCK_SKEW, f"the node refuses the request's Hawk timestamp as stale: its clock is "
                      f"{R.relative(skew)} this machine's. {_CLOCK_FIX}", skew_seconds=round(skew))  # fmt: skip
        if coll_ok:
            # accepted on info/collections (where expired tokens are allowed), refused elsewhere
            if skew is not None and skew >= token.duration - 60:
                self.fail(R.CLOCK_SKEW, f"the node's clock is {R.relative(skew)} this machine's "
                          f"(X-Weave-Timestamp), more than a token's lifetime ({token.duration} s): every token the "
                          "tokenserver mints is already expired when the node sees it, so the node accepts it only "
                          f"for info/collections. {_CLOCK_FIX}", skew_seconds=round(skew))  # fmt: skip
            self.fail(R.TOKEN_REJECTED, f"the node accepts the fresh token for info/collections (where expired tokens "
                      f"are allowed) but refuses it elsewhere, though its clock agrees with this machine's "
                      f"({R.relative(skew or 0)} it): it thinks the token has expired or was revoked. Fix: check the "
                      "clocks of the tokenserver's and the node's machines, and the node's log.")  # fmt: skip
        url = token.api_endpoint.rstrip("/") + "/info/collections"
        tried: list[str] = []
        for label, sign_url, ts, check, explain in self._variants(url, token, node_t, skew):
            resp = self.hawk_get(token, url, sign_url=sign_url, ts=ts)
            tried.append(label)
            if resp.status_code == 200:
                self.fail(check, explain, variant=label)
        self.fail(R.WRONG_SECRET, _wrong_secret(how, tried), tried=len(tried))

    def _variants(self, url: str, token: Token, node_t: float | None, skew: float | None,
                  ) -> Iterator[tuple[str, str, int | None, str, str]]:  # fmt: skip
        """(label, URL to sign for, Hawk ts, check, explanation) for each other way the
        node might be checking the signature."""
        w = R.Where.of(url)
        node_path = R.Where.of(token.node).path
        tail = w.path[len(node_path) :]
        segments = [s for s in node_path.split("/") if s]
        for k in range(1, len(segments) + 1):
            stripped = "/" + "/".join(segments[:k])
            seen = ("/" + "/".join(segments[k:]) if segments[k:] else "") + tail
            yield (f"signed for the path {seen}", f"{w.origin}{seen}", None, R.PATH_PREFIX,
                   f"The node checks Hawk signatures against the path without {stripped}: a request signed for "
                   f"{seen} is accepted, one signed for {w.path} (what Firefox signs) is refused. A reverse proxy "
                   f"serves the node under {stripped} and strips that prefix before passing the request on, and "
                   "syncstorage-rs cannot be told the prefix (syncstorage-rs #1217, #1649). Fix: serve syncstorage-rs "
                   f"at the root of its own host name (sync.example.com/ rather than example.com{stripped}/), or "
                   "make the proxy pass the path unchanged to a server that expects it; the node URL in the "
                   "tokenserver's nodes table must be exactly what clients use.")  # fmt: skip
        default = 443 if w.scheme == "https" else 80
        hosts: list[tuple[str, int, str]] = []
        if w.port != default:
            hosts.append((w.host, default, "without its port"))
        other = 80 if w.scheme == "https" else 443
        hosts.append((w.host, other, "scheme"))
        hosts += [("127.0.0.1", 8000, "upstream"), ("localhost", 8000, "upstream"), (w.host, 8000, "upstream")]
        for host, port, why in dict.fromkeys(hosts):
            if (host, port) == (w.host, w.port):
                continue
            shown = f"{host}:{port}"
            sign = f"{w.scheme}://{host if ':' not in host else f'[{host}]'}:{port}{w.path}"
            if why == "scheme":
                explain = (f"The node checks Hawk signatures as if the request came to port {port}: it believes the "
                           f"scheme was {'http' if port == 80 else 'https'}. A TLS-terminating proxy forwards plain "
                           "HTTP without saying it received HTTPS. Fix: have the proxy send X-Forwarded-Proto "
                           "$scheme (nginx: proxy_set_header X-Forwarded-Proto $scheme;), and X-Forwarded-Host "
                           "with the public host:port.")  # fmt: skip
            else:
                explain = (f"The node checks Hawk signatures against Host {shown}, not {w.netloc} (what Firefox "
                           "signs): the reverse proxy rewrites the Host header to its upstream's address (nginx "
                           "does by default: proxy_set_header Host $proxy_host). Fix: pass the original host — nginx: "
                           "proxy_set_header Host $http_host; (or X-Forwarded-Host with host:port), Apache: "
                           "ProxyPreserveHost On.")  # fmt: skip
            yield (f"signed for Host {shown}", sign, None, R.HOST_HEADER, explain)
        if node_t is not None and skew is not None and abs(skew) > 30:
            yield ("signed with the node's clock", url, int(node_t), R.CLOCK_SKEW,
                   f"The node refuses Hawk timestamps from this machine's clock but accepts its own: its clock is "
                   f"{R.relative(skew)} this machine's, outside its Hawk window. {_CLOCK_FIX}")  # fmt: skip

    # -- clocks, limits, quota, body size ------------------------------------------------
    def clock(self, answers: list[requests.Response], token: Token) -> None:
        node_t = next((t for r in reversed(answers) if (t := R.server_time(r)) is not None), None)
        if node_t is None:
            self.step("clock", "note", "the node sends no X-Weave-Timestamp or Date: its clock cannot be compared")
            return
        skew = node_t - time.time()
        ts_skew = None
        if token.server_time is not None:  # the tokenserver's X-Timestamp when it minted the token
            ts_skew = token.server_time - (token.expires_at.timestamp() - token.duration)
            ts_skew = 0.0 if abs(ts_skew) < 1.5 else ts_skew  # X-Timestamp has whole seconds
        detail = f"the node's clock is {R.relative(skew)} this machine's" + (
            f", the tokenserver's {R.relative(ts_skew)} it" if ts_skew is not None else ""
        )
        if abs(skew) <= R.SKEW_WARN and (ts_skew is None or abs(ts_skew) <= R.SKEW_WARN):
            self.step("clock", "ok", detail)
            return
        if ts_skew is not None and abs(skew - ts_skew) <= R.SKEW_WARN:
            where = (f"the node and the tokenserver agree with each other, but this machine's clock is "
                     f"{R.relative(-skew)} theirs")  # fmt: skip
        else:
            where = f"the node's clock is {R.relative(skew)} this machine's" + (
                f" and {R.relative(skew - ts_skew)} the tokenserver's" if ts_skew is not None else ""
            )
        self.find(R.CLOCK_SKEW, f"{where} (X-Weave-Timestamp, X-Timestamp). Nothing fails yet — syncstorage-rs "
                  f"accepts Hawk timestamps within 52 weeks — but a node ahead of its tokenserver by more than a "
                  f"token's lifetime ({token.duration} s) refuses every token, and servers with Hawk's usual window "
                  f"(a minute) refuse every request. {_CLOCK_FIX}", severity="warning", step="clock",
                  skew_seconds=round(skew))  # fmt: skip

    def limits(self, config: Any, status: int) -> None:
        if status == 404:
            self.step("limits", "note", "no info/configuration: clients assume 256 KiB per record and per request")
            return
        errors, warnings = R.limit_problems(config)
        if not errors and not warnings:
            c = config
            self.step("limits", "ok", f"record {c.get('max_record_payload_bytes')} B, POST {c.get('max_post_records')} "
                      f"records / {c.get('max_post_bytes')} B, batch {c.get('max_total_records')} records / "
                      f"{c.get('max_total_bytes')} B")  # fmt: skip
            return
        self.find(R.LIMITS, "info/configuration: " + "; ".join(errors + warnings) + ". Uploads that break these "
                  "limits fail ('retry bytes', 400 with body 17, 413) or are skipped by Firefox. Fix: set the "
                  "SYNC_SYNCSTORAGE__LIMITS__* settings back to syncstorage-rs' defaults "
                  f"({R.SYNCSTORAGE_RS_DEFAULTS}), keeping max_request_bytes = max_post_bytes + 4096 and any "
                  "proxy body limit above max_request_bytes.", severity="error" if errors else "warning",
                  step="limits", problems=len(errors) + len(warnings))  # fmt: skip

    def quota(self, answers: list[requests.Response], quota: requests.Response) -> None:
        remaining = [r.headers["X-Weave-Quota-Remaining"] for r in answers if "X-Weave-Quota-Remaining" in r.headers]
        data = R.json_body(quota) if quota.status_code == 200 else None
        used = limit = None
        if isinstance(data, list) and data and isinstance(data[0], int | float):
            used = float(data[0])
            limit = float(data[1]) if len(data) > 1 and isinstance(data[1], int | float) else None
        problems = []
        severity = "warning"
        for value in remaining[-1:]:
            try:
                left = float(value)
            except ValueError:
                continue
            if left <= 0:
                problems.append("the node says no storage quota is left (X-Weave-Quota-Remaining: 0): writes are "
                                "refused as over quota (403, body 14)")  # fmt: skip
                severity = "error"
            elif left < 1024:
                problems.append(f"the node says {left:.0f} KB of quota are left (X-Weave-Quota-Remaining)")
        if used is not None and limit:
            if used >= 0.9 * limit:
                problems.append(f"info/quota: {used:.0f} KB used of {limit:.0f} KB")
        if problems:
            self.find(R.QUOTA, "; ".join(problems) + ". Fix: raise SYNC_SYNCSTORAGE__LIMITS__MAX_QUOTA_LIMIT (or turn "
                      "SYNC_SYNCSTORAGE__ENFORCE_QUOTA off), or free space: a person can delete a collection they no "
                      "longer sync.", severity=severity, step="quota")  # fmt: skip
            return
        if used is None:
            self.step("quota", "note", f"info/quota answered {quota.status_code}: usage not reported")
        else:
            self.step("quota", "ok", f"{used:.0f} KB used" + (f" of {limit:.0f} KB" if limit else ", no quota set"))

    def body_limit(self, ep: str, config: Any) -> None:
        """An unauthenticated POST as large as the node accepts: nothing can be stored
        without credentials, but a proxy that caps bodies below it answers 413 first."""
        size = config.get("max_request_bytes") if isinstance(config, dict) else None
        if isinstance(size, bool) or not isinstance(size, int) or size <= 2:
            size = R.CLIENT_DEFAULT
        size = min(size, MAX_PROBE_BYTES)
        url = f"{ep}/storage/{PROBE_COLLECTION}"
        body = b"[" + b" " * (size - 2) + b"]"
        try:
            resp = self.fetch("POST", url, follow=False, data=body, headers={"Content-Type": "application/json"})
        except _NoAnswer as exc:
            self.find(R.PROXY_BODY_LIMIT, f"sending a request of {size} bytes (max_request_bytes) to the node broke "
                      f"off: {exc.what}. A proxy or firewall in front of the node drops large requests. {_BODY_FIX}",
                      step="body size", bytes=size)  # fmt: skip
            return
        if resp.status_code == 413:
            if R.is_html(resp) or "X-Weave-Timestamp" not in resp.headers:
                self.find(R.PROXY_BODY_LIMIT, f"a request of {size} bytes — the max_request_bytes the node announces "
                          f"— is refused with {R.describe_answer(resp)} before it reaches the node: a proxy caps "
                          f"request bodies (nginx's client_max_body_size is 1 MiB unless set). Firefox's larger "
                          f"uploads (a batch of bookmarks, a history POST) fail. {_BODY_FIX}", step="body size",
                          bytes=size)  # fmt: skip
            else:
                self.find(R.LIMITS, f"the node itself refuses a request of {size} bytes (413), though its "
                          "info/configuration announces max_request_bytes of that size: its limits are inconsistent. "
                          "Fix: set max_request_bytes to what the node really accepts.", step="body size")  # fmt: skip
            return
        self.step("body size", "ok", f"a {size}-byte POST reaches the node ({resp.status_code} without credentials; "
                  "nothing is stored)")  # fmt: skip

    # -- the client-state rules -----------------------------------------------------------
    def key_rollback(self, ts_url: str, keys: SyncKeys, access_token: str) -> None:
        """Ask for a token with keysChangedAt one less than the account's: a tokenserver
        keeping the client-state rules refuses it (``invalid-keysChangedAt``)."""
        kca, client_state = parse_kid(keys.kid)
        if kca <= 0:
            self.step("key rollback", "skip", "keysChangedAt is 0: there is no earlier value to try")
            return
        older = f"{kca - 1}-{keys.kid.split('-', 1)[1]}"
        client = TokenServerClient(ts_url, trace=self.trace, timeout=self.timeout)
        try:
            client.exchange(access_token, key_id=older)
        except (net.InvalidKeysChangedAt, net.InvalidClientState, net.InvalidGeneration) as exc:
            name = type(exc).__name__
            self.step("key rollback", "ok", f"an X-KeyID with an older keysChangedAt is refused ({name})")
            return
        except net.NetError as exc:
            self.step("key rollback", "note", f"the probe with an older keysChangedAt failed otherwise: {exc}")
            return
        self.find(R.CLIENT_STATE, f"the tokenserver gave a token for an X-KeyID whose keysChangedAt went backwards "
                  f"({kca - 1} after {kca}): it does not keep the client-state rules, so a device still holding "
                  "keys from before a password reset can write records no other device can read. Fix: run a "
                  "current syncstorage-rs tokenserver (it refuses this as invalid-keysChangedAt); with a custom "
                  "tokenserver, refuse keysChangedAt lower than the one stored.", severity="warning",
                  step="key rollback", client_state=fp(client_state))  # fmt: skip


_CLOCK_FIX = ("Fix: run NTP (systemd-timesyncd, chrony) on the machines of the tokenserver, the storage node and "
              "this client, and check the containers' time zone is not mistaken for their clock.")  # fmt: skip
_BODY_FIX = ("Fix: raise the proxy's limit above max_request_bytes — nginx: client_max_body_size 3m; (or more), "
             "Apache: LimitRequestBody, Caddy: request_body max_size.")  # fmt: skip


def _wrong_secret(how: str, tried: list[str]) -> str:
    alts = "; ".join(tried) or "no other signature"
    if how == "secret":
        who = ("The node refuses a token minted with the secret you gave, signed every way a proxy could expect "
               f"({alts}): the node runs with another master secret.")  # fmt: skip
    elif how == "token":
        who = (f"The node refuses this token however it is signed ({alts}): it was minted with another master "
               "secret than the node's (or has been altered).")  # fmt: skip
    else:
        who = (
            f"The node refuses a token its own tokenserver just minted, however it is signed ({alts}), and its "
            "clock agrees: the node and the tokenserver do not share a master secret, so the node cannot verify "
            "the token's signature. It happens when they run as two processes or containers with different "
            "SYNC_MASTER_SECRET values, or with none set (a random secret per start: every restart breaks it)."
        )
    return (who + " (Or a proxy passes a Host check-server could not guess.) Fix: give the tokenserver and every "
            "storage node the same SYNC_MASTER_SECRET (master_secret in the config file), restart both, and sign "
            "in to Sync again.")  # fmt: skip


def _as_token(data: Any) -> Token:
    """A storage token from a :class:`Token` or a tokenserver answer (a dict)."""
    if isinstance(data, Token):
        token = data
    elif isinstance(data, dict):
        try:
            token = Token.from_json(dict(data))
        except (ValueError, TypeError, AttributeError) as exc:
            raise CheckServerError(f"storage_token: {exc}") from None
    else:
        raise CheckServerError(f"storage_token must be a Token or a dict (id, key, uid, api_endpoint, duration), "
                               f"not {type(data).__name__}")  # fmt: skip
    if not token.api_endpoint.startswith(("http://", "https://")):
        raise CheckServerError(f"storage_token's api_endpoint must be an http(s) URL, got {token.api_endpoint[:60]!r}")
    return token


def _heartbeat_json(resp: requests.Response | None) -> dict[str, Any] | None:
    if resp is None or resp.status_code not in (200, 503):
        return None
    data = R.json_body(resp)
    return data if isinstance(data, dict) and "status" in data else None


__all__ = ["CheckServerError", "ServerReport", "Step", "check_server"]
