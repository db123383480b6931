"""The bulk decryption path: many payloads, one pass, per-record results.

Every per-record step is a C-level ``map`` (no Python bytecode per record) and every
per-byte step is one call over the whole batch:

1. envelopes: ``orjson.loads`` per payload and one ``itemgetter``, with a per-record
   loop (and its precise error) as the fallback when any payload is malformed;
2. HMACs: one ``hmac.digest`` per record, compared as hex;
3. AES-256-CBC: decrypting a CBC block needs only the ciphertext block before it, so the
   whole batch is decrypted in ONE ECB call and XORed with the "previous block" stream
   (the ciphertext shifted by a block, each record's IV put at its first block);
4. PKCS#7 padding is checked for all records with 16 vectorised comparisons;
5. cleartext JSON: each record's own slice, parsed by a C-level map of ``orjson.loads``
   (never across a record boundary, so one record cannot lend content to another).

A record that fails any step gets its own :class:`CryptoError`; the others go on. When a
step cannot run vectorised (say, a malformed base64 string), that step falls back to a
per-record loop for the batch, so correctness never depends on the fast path.

Where the compiled :mod:`._native` module is built (``pip install`` builds it when a C
compiler and OpenSSL's headers are there), steps 1-4 run in it first, per record and
without the GIL; it only ever *accepts* a record (the plain good case, with the very bytes
the steps above give), and every record it does not accept goes through the steps above,
which name its error. Set ``SYNCTOOLS_NATIVE=0`` to use the pure-Python path alone.
"""

from __future__ import annotations

import _hashlib
import binascii
import gc
import hmac
import json
import operator
import os
from collections.abc import Mapping, Sequence
from functools import partial
from itertools import chain, repeat
from types import ModuleType
from typing import Any, Protocol

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ._payload import (
    BLOCK,
    Base64Error,
    CleartextJSONError,
    CryptoError,
    HMACMismatchError,
    PaddingError,
    PayloadShapeError,
    _check_cleartext,
    _parse_envelope,
)


class KeyBundle(Protocol):
    """What the bulk path needs of a :class:`~synctools.protocol.crypto.KeyBundle` (named
    structurally: crypto re-exports this module, so this module cannot import crypto)."""

    @property
    def enc_key(self) -> bytes: ...

    @property
    def hmac_key(self) -> bytes: ...


try:  # orjson parses large arrays about twice as fast; stdlib json is the fallback
    import orjson

    _fast_loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _fast_loads = json.loads  # type: ignore[assignment]

_native: ModuleType | None
try:  # optional: the compiled hot loop (see setup.py); the pure-Python path gives the same results
    from . import _native
except ImportError:  # pragma: no cover - exercised where the extension was not built
    _native = None
if os.environ.get("SYNCTOOLS_NATIVE", "1") == "0":
    _native = None

_ENVELOPE = operator.itemgetter("ciphertext", "IV", "hmac")
# hmac.digest is a thin Python wrapper over this C function; skip the wrapper per record.
_hmac_digest = getattr(_hashlib, "hmac_digest", hmac.digest)
_strict_b64 = partial(binascii.a2b_base64, strict_mode=True)

DecryptResult = dict[str, Any] | CryptoError


_NOT_JSON: Any = object()


def _loads_or_not(text: str | bytes) -> Any:
    """The parsed JSON, or ``_NOT_JSON``; never a crash of the batch.

    orjson first: its depth limit (1,024) stands where a recursive parser would meet a
    body nested 50,000 deep. It also refuses an escaped lone surrogate (``"\\ud83d"``),
    which is valid JSON: Firefox writes one for a title cut mid-emoji and reads it back
    with JSON.parse. For that error only, the standard parser reads the text (its depth
    limit raises RecursionError, caught here) and refuses NaN and Infinity as orjson does.
    """
    try:
        return _fast_loads(text)
    except RecursionError:
        return _NOT_JSON
    except ValueError as exc:
        if "surrogate" not in str(exc):
            return _NOT_JSON
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _fields(env: Any) -> tuple[str, str, str] | None:
    if type(env) is dict:
        ct, iv, mac = env.get("ciphertext"), env.get("IV"), env.get("hmac")
        if type(ct) is str and type(iv) is str and type(mac) is str and ct.isascii():
            return ct, iv, mac
    return None


def _split_envelopes(
    payloads: Sequence[Any], ids: Sequence[str | None], results: list[Any]
) -> tuple[list[int], list[str], list[str], list[str]]:
    """(positions, ciphertexts, IVs, hmacs) of payloads with a well-formed envelope."""
    envs: list[Any] | None = None
    if all(type(p) is str for p in payloads):
        try:
            envs = list(map(_fast_loads, payloads))
        except ValueError:
            envs = None
    if envs is not None:
        try:
            cts, ivs, macs = (list(col) for col in zip(*map(_ENVELOPE, envs)))
            if set(map(type, chain(cts, ivs, macs))) == {str} and all(map(str.isascii, cts)):
                return list(range(len(payloads))), cts, ivs, macs
        except (KeyError, TypeError, ValueError):
            pass
    pos: list[int] = []
    cts, ivs, macs = [], [], []
    for i, p in enumerate(payloads):
        env = p
        if type(p) is str or type(p) is bytes:
            env = _loads_or_not(p)
            if env is _NOT_JSON:  # never handed to a recursive parser: it may nest 50,000 deep
                results[i] = PayloadShapeError("payload is not JSON", ids[i])
                continue
        fields = _fields(env)
        if fields is None:
            try:  # for the precise error (env is parsed already: no second parse)
                _parse_envelope(env, ids[i])
                raise Base64Error("ciphertext is not valid base64", ids[i])
            except CryptoError as exc:
                results[i] = exc
            continue
        pos.append(i)
        cts.append(fields[0])
        ivs.append(fields[1])
        macs.append(fields[2])
    return pos, cts, ivs, macs


def _decode_all(
    texts: list[bytes], what: str, pos: list[int], ids: Sequence[str | None], bad: dict[int, CryptoError]
) -> list[bytes]:
    try:
        return list(map(_strict_b64, texts))
    except (binascii.Error, ValueError):
        out = []
        for k, t in enumerate(texts):
            try:
                out.append(_strict_b64(t))
            except (binascii.Error, ValueError):
                bad.setdefault(k, Base64Error(f"{what} is not valid base64", ids[pos[k]]))
                out.append(b"")
        return out


def decrypt_many(
    bundle: KeyBundle,
    payloads: Sequence[Mapping[str, Any] | str],
    ids: Sequence[str | None] | None = None,
    *,
    raw: bool = False,
) -> list[Any]:
    """Decrypt many payloads at once; return one result per payload, in order.

    Each result is the cleartext ``dict`` (or its ``bytes`` with ``raw=True``) or the
    :class:`CryptoError` for that record: one bad record never fails the others. Pass
    ``ids`` (the BSO ids) so errors name their record and each cleartext's ``id`` is
    checked against its BSO.
    """
    n = len(payloads)
    ids = list(ids) if ids is not None else [None] * n
    if len(ids) != n:
        raise ValueError("ids and payloads must have the same length")
    results: list[Any] = [None] * n
    if n == 0:
        return results
    gc_was_enabled = gc.isenabled()
    gc.disable()  # building many small objects: the cyclic GC would only slow this down
    try:
        _decrypt_into(bundle, payloads, ids, results, raw)
    finally:
        if gc_was_enabled:
            gc.enable()
    return results


def _decrypt_into(
    bundle: KeyBundle, payloads: Sequence[Any], ids: list[str | None], results: list[Any], raw: bool
) -> None:
    if _native is None:
        _decrypt_steps(bundle, payloads, ids, results, raw)
        return
    got: list[Any] = _native.decrypt_payloads(bundle.hmac_key, bundle.enc_key, payloads)
    rest = [k for k, g in enumerate(got) if g is None]
    if rest:  # everything but the plain good case: the steps name each record's error
        sub: list[Any] = [None] * len(rest)
        _decrypt_steps(bundle, [payloads[k] for k in rest], [ids[k] for k in rest], sub, True)
        for k, r in zip(rest, sub):
            got[k] = r
    results[:] = got if raw else load_cleartexts(got, ids)


def _decrypt_steps(
    bundle: KeyBundle, payloads: Sequence[Any], ids: list[str | None], results: list[Any], raw: bool
) -> None:
    pos, cts, ivs, macs = _split_envelopes(payloads, ids, results)
    m = len(pos)
    if not m:
        return
    ct_ascii = list(map(str.encode, cts))  # the regex/ascii check guarantees ASCII
    digests = map(_hmac_digest, repeat(bundle.hmac_key, m), ct_ascii, repeat("sha256", m))
    mac_ok = list(map(operator.eq, map(bytes.hex, digests), map(str.lower, macs)))
    bad: dict[int, CryptoError] = {}
    if not all(mac_ok):
        for k, ok in enumerate(mac_ok):
            if not ok:
                bad[k] = HMACMismatchError("HMAC mismatch", ids[pos[k]])
    cipher = _decode_all(ct_ascii, "ciphertext", pos, ids, bad)
    iv_raw = _decode_all(list(map(str.encode, ivs)), "IV", pos, ids, bad)
    lens = np.fromiter(map(len, cipher), dtype=np.int64, count=m)
    iv_lens = np.fromiter(map(len, iv_raw), dtype=np.int64, count=m)
    for k in np.flatnonzero(iv_lens != BLOCK).tolist():
        bad.setdefault(k, Base64Error(f"IV must decode to 16 bytes, got {iv_lens[k]}", ids[pos[k]]))
    for k in np.flatnonzero((lens == 0) | (lens % BLOCK != 0)).tolist():
        bad.setdefault(k, PaddingError("ciphertext length is not a positive multiple of 16", ids[pos[k]]))
    if bad:  # drop the failures and carry on with the rest
        for k, exc in bad.items():
            results[pos[k]] = exc
        keep = [k for k in range(m) if k not in bad]
        pos = [pos[k] for k in keep]
        cipher = [cipher[k] for k in keep]
        iv_raw = [iv_raw[k] for k in keep]
        lens = lens[keep]
        m = len(pos)
        if not m:
            return
    _cbc_and_parse(bundle.enc_key, pos, cipher, iv_raw, lens, ids, results, raw)


def _cbc_and_parse(
    enc_key: bytes,
    pos: list[int],
    cipher: list[bytes],
    iv_raw: list[bytes],
    lens: np.ndarray,
    ids: list[str | None],
    results: list[Any],
    raw: bool,
) -> None:
    m = len(pos)
    total = int(lens.sum())
    blob = b"".join(cipher)
    ends = np.cumsum(lens)
    starts = ends - lens
    # "previous block" stream: ciphertext shifted by one block, IVs at record starts
    ct_arr = np.frombuffer(blob, dtype=np.uint8)
    prev = np.empty(total, dtype=np.uint8)
    prev[BLOCK:] = ct_arr[:-BLOCK]
    prev.reshape(-1, BLOCK)[starts // BLOCK] = np.frombuffer(b"".join(iv_raw), dtype=np.uint8).reshape(-1, BLOCK)
    ecb = Cipher(algorithms.AES(enc_key), modes.ECB()).decryptor()  # noqa: S305 - CBC done by hand
    plain = np.frombuffer(ecb.update(blob) + ecb.finalize(), dtype=np.uint8)
    body = np.bitwise_xor(plain, prev)
    del prev, plain, ct_arr
    pad = body[ends - 1].astype(np.int64)
    valid = (pad >= 1) & (pad <= BLOCK)
    for k in range(2, BLOCK + 1):
        need = pad >= k
        valid &= ~need | (body[ends - k] == pad)
    # Each record's cleartext is its own slice: records are never parsed across a
    # boundary, so one record can never lend content to another.
    data = body.tobytes()  # slicing bytes is far cheaper than slicing a numpy array
    ok = valid.tolist()
    good = [k for k in range(m) if ok[k]]
    texts = list(map(data.__getitem__, map(slice, starts[valid].tolist(), (ends - pad)[valid].tolist())))
    for k in range(m):
        if not ok[k]:
            results[pos[k]] = PaddingError("bad PKCS#7 padding", ids[pos[k]])
    if raw:
        for k, text in zip(good, texts):
            results[pos[k]] = text
        return
    parsed = _parse_texts(texts, [ids[pos[k]] for k in good])
    if len(good) == len(results):
        results[:] = parsed
        return
    for k, obj in zip(good, parsed):
        results[pos[k]] = obj


def _parse_texts(texts: list[bytes], ids: list[str | None]) -> list[Any]:
    """Each cleartext parsed and checked (a JSON object whose id is its BSO's), or its error."""
    try:
        parsed = list(map(_fast_loads, texts))
    except (ValueError, RecursionError):
        out: list[Any] = []
        for text, rid in zip(texts, ids):
            obj = _loads_or_not(text)  # never a recursive parser: a cleartext may nest 50,000 deep
            try:
                if obj is _NOT_JSON:
                    raise CleartextJSONError("cleartext is not UTF-8 JSON", rid)
                _check_cleartext(obj, rid)
                out.append(obj)
            except CryptoError as exc:
                out.append(exc)
        return out
    if set(map(type, parsed)) <= {dict} and (
        all(r is None for r in ids) or list(map(dict.get, parsed, repeat("id"))) == ids
    ):
        return parsed
    for k, (obj, rid) in enumerate(zip(parsed, ids)):
        try:
            _check_cleartext(obj, rid)
        except CryptoError as exc:
            parsed[k] = exc
    return parsed


def load_cleartexts(results: Sequence[Any], ids: Sequence[str | None]) -> list[Any]:
    """``decrypt_many(raw=True)`` results to what ``decrypt_many`` returns: each verified
    cleartext parsed and checked exactly as there (a JSON object whose ``id`` is its BSO's),
    each :class:`CryptoError` passed through. Lets a caller keep the bytes and parse later."""
    if len(ids) != len(results):
        raise ValueError("ids and results must have the same length")
    good = [k for k, r in enumerate(results) if type(r) is bytes]
    gc_was_enabled = gc.isenabled()
    gc.disable()  # many small objects at once, as in decrypt_many
    try:
        if len(good) == len(results):
            return _parse_texts(list(results), list(ids))
        out = list(results)
        for k, obj in zip(good, _parse_texts([results[k] for k in good], [ids[k] for k in good])):
            out[k] = obj
        return out
    finally:
        if gc_was_enabled:
            gc.enable()
