"""Build a Firefox profile that is already signed in to an account of the embedded stack.

Firefox keeps a signed-in account in two places (services/fxaccounts/FxAccountsStorage.sys.mjs
and FXA_PWDMGR_*_FIELDS in FxAccountsCommon.sys.mjs):

- ``signedInUser.json`` ``{"version": 1, "accountData": {...}}`` with the plain fields
  (uid, email, sessionToken, verified, ...);
- the login manager (``logins.json``, encrypted with the profile's NSS key4.db) holds the
  secure fields (``scopedKeys``) as one login: origin ``chrome://FirefoxAccounts``, realm
  ``Firefox Accounts credentials``, username = uid, password = the same JSON envelope.

user.js points every FxA/Sync URL at the stack and switches off everything that would
reach the internet; a proxy on a closed local port catches whatever is left (Firefox never
proxies 127.0.0.1), so the only traffic that can succeed is to the stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from .marionette import PREFS as MARIONETTE_PREFS

OLDSYNC = "https://identity.mozilla.com/apps/oldsync"
DEAD = "http://127.0.0.1:9/"  # discard port: nothing listens, connections fail at once


# Prefs that keep Firefox quiet and offline (names from modules/libpref/init/all.js,
# browser/app/profile/firefox.js and mozprofile's test prefs).
def proxy_prefs(port: int) -> dict[str, Any]:
    """Every connection that is not to 127.0.0.1 goes to a local 'proxy' on ``port``, which
    refuses it (tests/firefox/sinkhole.py records what was tried): nothing leaves the machine,
    and Firefox resolves no names itself."""
    return {
        "network.proxy.type": 1,
        "network.proxy.http": "127.0.0.1",
        "network.proxy.http_port": port,
        "network.proxy.ssl": "127.0.0.1",
        "network.proxy.ssl_port": port,
        "network.proxy.socks": "",
        "network.proxy.socks_remote_dns": True,
        "network.proxy.no_proxies_on": "127.0.0.1,localhost",
        "network.proxy.allow_hijacking_localhost": False,
    }


QUIET_PREFS: dict[str, Any] = {
    "network.trr.mode": 5,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.newtabpage.enabled": False,
    "browser.newtabpage.activity-stream.feeds.system.topstories": False,
    "browser.newtabpage.activity-stream.feeds.section.topstories": False,
    "browser.newtabpage.activity-stream.feeds.topsites": False,
    "browser.newtabpage.activity-stream.feeds.snippets": False,
    "browser.newtabpage.activity-stream.telemetry": False,
    "browser.topsites.contile.enabled": False,
    "browser.ping-centre.telemetry": False,
    "browser.discovery.enabled": False,
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "browser.search.update": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.downloads.remote.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.safebrowsing.provider.google.updateURL": "",
    "browser.safebrowsing.provider.google4.updateURL": "",
    "browser.safebrowsing.provider.google5.updateURL": "",
    "browser.urlbar.quicksuggest.enabled": False,
    "browser.urlbar.suggest.quicksuggest.sponsored": False,
    "browser.contentblocking.report.monitor.enabled": False,
    "extensions.pocket.enabled": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "extensions.systemAddon.update.url": "",
    "extensions.blocklist.enabled": False,
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "app.normandy.api_url": "",
    "app.shield.optoutstudies.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.usage.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.archive.enabled": False,
    "toolkit.telemetry.server": "",
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "toolkit.telemetry.shutdownPingSender.enabled": False,
    "toolkit.telemetry.firstShutdownPing.enabled": False,
    "toolkit.telemetry.newProfilePing.enabled": False,
    "toolkit.telemetry.updatePing.enabled": False,
    "toolkit.telemetry.bhrPing.enabled": False,
    # honoured in release builds only with MOZ_REMOTE_SETTINGS_DEVTOOLS=1 (FIREFOX_ENV)
    "services.settings.server": DEAD + "v1",
    "security.OCSP.enabled": 0,
    "security.remote_settings.crlite_filters.enabled": False,
    "security.remote_settings.intermediates.enabled": False,
    "geo.provider.network.url": "",
    "media.gmp-manager.url": "",
    "media.gmp-manager.chromium-update-url": "",
    "media.gmp-gmpopenh264.enabled": False,
    "media.gmp-widevinecdm.enabled": False,
    "dom.push.enabled": False,
    "dom.push.connection.enabled": False,
    "dom.push.serverURL": "",
    "signon.rustMirror.enabled": False,
    "signon.management.page.breach-alerts.enabled": False,
    "privacy.antitracking.enableWebcompat": False,
}


# The environment Firefox needs on top of the test's: no crash reporter or safe-mode prompt,
# and services.settings.server taken from the prefs (services-settings/Utils.sys.mjs).
FIREFOX_ENV = {
    "MOZ_CRASHREPORTER_DISABLE": "1",
    "MOZ_DISABLE_AUTO_SAFE_MODE": "1",
    "MOZ_REMOTE_SETTINGS_DEVTOOLS": "1",
}


def account_prefs(stack: Any, email: str) -> dict[str, Any]:
    """The FxA/Sync prefs (FxAccountsConfig.sys.mjs) that point Firefox at the stack."""
    return {
        "identity.fxaccounts.enabled": True,
        "identity.fxaccounts.allowHttp": True,  # the stack speaks plain http on 127.0.0.1
        "identity.fxaccounts.autoconfig.uri": "",
        "identity.fxaccounts.remote.root": stack.url + "/",
        "identity.fxaccounts.auth.uri": stack.auth_url,
        "identity.fxaccounts.remote.oauth.uri": stack.oauth_url,
        "identity.fxaccounts.remote.profile.uri": stack.profile_url,
        "identity.fxaccounts.remote.pairing.uri": "ws://127.0.0.1:9/",
        "identity.sync.tokenserver.uri": stack.token_url,
        "identity.fxaccounts.commands.enabled": False,
        # Sync is configured when services.sync.username is set (BrowserGlue, Weave.sys.mjs)
        "services.sync.username": email,
        # every sync leaves its own log in profile/weave/logs: error-sync-<ms>.txt when any
        # line was ERROR or worse, else success-sync-<ms>.txt (logOnSuccess). Debug keeps the
        # Sync.Status lines outcome.py reads (and never keys at this level).
        "services.sync.log.appender.file.level": "Debug",
        "services.sync.log.appender.file.logOnSuccess": True,
    }


def _user_js(prefs: dict[str, Any]) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


def sdr_encrypt(profile: Path, texts: list[str], firefox: str) -> list[str]:
    """Encrypt with the profile's NSS key (creating key4.db) in a child process, with the
    NSS that ships next to the ``firefox`` binary (Debian: /usr/lib/firefox-esr)."""
    lib_dir = Path(os.path.realpath(firefox)).parent
    env = {**os.environ, "LD_LIBRARY_PATH": str(lib_dir)}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_nss_sdr.py")), str(profile)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"NSS encryption for the profile failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def write_profile(
    profile: Path,
    stack: Any,
    *,
    firefox: str,
    email: str,
    uid: str,
    session_token: str,
    oldsync_jwk: dict[str, str],
    proxy_port: int = 9,
) -> None:
    """A fresh profile in ``profile`` (created) for the ``firefox`` binary, signed in as
    ``email`` with its sync keys (the oldsync scoped key as a JWK).
    ``proxy_port``: where non-local connections go (9, the discard port, refuses them)."""
    profile.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds a session token and keys
    prefs = {**proxy_prefs(proxy_port), **QUIET_PREFS, **MARIONETTE_PREFS, **account_prefs(stack, email)}
    (profile / "user.js").write_text(_user_js(prefs), "utf-8")
    plain = {"uid": uid, "email": email, "sessionToken": session_token, "verified": True}
    (profile / "signedInUser.json").write_text(json.dumps({"version": 1, "accountData": plain}), "utf-8")
    secure = {"version": 1, "accountData": {"scopedKeys": {OLDSYNC: oldsync_jwk}}}
    enc_user, enc_secure = sdr_encrypt(profile, [uid, json.dumps(secure)], firefox)
    now = int(time.time() * 1000)
    login = {
        "id": 1,
        "hostname": "chrome://FirefoxAccounts",
        "httpRealm": "Firefox Accounts credentials",
        "formSubmitURL": None,
        "usernameField": "",
        "passwordField": "",
        "encryptedUsername": enc_user,
        "encryptedPassword": enc_secure,
        "guid": "{" + str(uuid.uuid4()) + "}",
        "encType": 1,
        "timeCreated": now,
        "timeLastUsed": now,
        "timePasswordChanged": now,
        "timesUsed": 1,
    }
    logins = {
        "nextId": 2,
        "logins": [login],
        "potentiallyVulnerablePasswords": [],
        "dismissedBreachAlertsByLoginGUID": {},
        "version": 3,
    }
    (profile / "logins.json").write_text(json.dumps(logins), "utf-8")
