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
"""

from __future__ import annotations

import _hashlib
import binascii
import gc
import hmac
import json
import operator
from collections.abc import Mapping, Sequence
from functools import partial
from itertools import chain, repeat
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .crypto import (
    BLOCK,
    Base64Error,
    CryptoError,
    HMACMismatchError,
    KeyBundle,
    PaddingError,
    _check_cleartext,
    _load_cleartext,
    _parse_envelope,
)

try:  # orjson parses large arrays about twice as fast; stdlib json is the fallback
    import orjson

    _fast_loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _fast_loads = json.loads  # type: ignore[assignment]

_ENVELOPE = operator.itemgetter("ciphertext", "IV", "hmac")
# hmac.digest is a thin Python wrapper over this C function; skip the wrapper per record.
_hmac_digest = getattr(_hashlib, "hmac_digest", hmac.digest)
_strict_b64 = partial(binascii.a2b_base64, strict_mode=True)

DecryptResult = dict[str, Any] | CryptoError


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
            try:
                env = json.loads(p)
            except ValueError:
                env = None
        fields = _fields(env)
        if fields is None:
            try:  # for the precise error
                _parse_envelope(p, ids[i])
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
    pos, cts, ivs, macs = _split_envelopes(payloads, ids, results)
    m = len(pos)
    if not m:
        return
    ct_ascii = list(map(str.encode, cts))  # the regex/ascii check guarantees ASCII
    digests = list(map(_hmac_digest, repeat(bundle.hmac_key, m), ct_ascii, repeat("sha256", m)))
    bad: dict[int, CryptoError] = {}
    for k in _hmac_mismatches(digests, macs):
        bad[k] = HMACMismatchError("HMAC mismatch", ids[pos[k]])
    cipher = _b64_many(ct_ascii)
    if cipher is None:  # some record is not strict base64: per record, for its precise error
        cipher = _joined(_decode_all(ct_ascii, "ciphertext", pos, ids, bad))
    ivs_ascii = list(map(str.encode, ivs))
    iv_raw = _b64_many(ivs_ascii)
    if iv_raw is None:
        iv_raw = _joined(_decode_all(ivs_ascii, "IV", pos, ids, bad))
    ct, lens = cipher
    iv, iv_lens = iv_raw
    for k in np.flatnonzero(iv_lens != BLOCK).tolist():
        bad.setdefault(k, Base64Error(f"IV must decode to 16 bytes, got {iv_lens[k]}", ids[pos[k]]))
    for k in np.flatnonzero((lens == 0) | (lens % BLOCK != 0)).tolist():
        bad.setdefault(k, PaddingError("ciphertext length is not a positive multiple of 16", ids[pos[k]]))
    if bad:  # drop the failures and carry on with the rest
        for k, exc in bad.items():
            results[pos[k]] = exc
        keep = np.ones(m, dtype=bool)
        keep[list(bad)] = False
        ct = ct[np.repeat(keep, lens)]
        iv = iv[np.repeat(keep, iv_lens)]
        pos = [p for p, k in zip(pos, keep.tolist()) if k]
        lens = lens[keep]
        m = len(pos)
        if not m:
            return
    _cbc_and_parse(bundle.enc_key, pos, ct, iv, lens, ids, results, raw)


def _hmac_mismatches(digests: list[bytes], macs: list[str]) -> list[int]:
    """Positions whose hex ``mac`` is not its digest, compared in one pass when every mac
    is 64 hex digits (case-insensitive, as ``mac.lower() == digest.hex()``)."""
    m = len(digests)
    want = None
    if set(map(len, macs)) == {64}:
        try:
            want = bytes.fromhex("".join(macs))
        except ValueError:
            want = None
    if want is not None and len(want) == 32 * m:  # fromhex skips whitespace: the length tells
        got = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(m, 32)
        return np.flatnonzero((got != np.frombuffer(want, dtype=np.uint8).reshape(m, 32)).any(axis=1)).tolist()
    ok = map(operator.eq, map(bytes.hex, digests), map(str.lower, macs))
    return [k for k, good in enumerate(ok) if not good]


def _joined(parts: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    return np.frombuffer(b"".join(parts), dtype=np.uint8), lens


# base64 alphabet -> 6-bit value; "=" -> 64; anything else -> 255
_B64 = np.full(256, 255, dtype=np.uint8)
_B64[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", dtype=np.uint8)] = np.arange(64)
_B64[ord("=")] = 64


def _b64_many(texts: list[bytes]) -> tuple[np.ndarray, np.ndarray] | None:
    """Strict base64 decoding of many texts at once: the decoded bytes joined, and each
    text's decoded length. None when any text is not what ``a2b_base64(strict_mode=True)``
    accepts (a character outside the alphabet, a length not a multiple of 4, padding
    anywhere but the last one or two places): then decode per record, for the error."""
    m = len(texts)
    chars = np.fromiter(map(len, texts), dtype=np.int64, count=m)
    if (chars % 4).any():
        return None
    vals = _B64[np.frombuffer(b"".join(texts), dtype=np.uint8)]
    if vals.size and vals.max() == 255:
        return None
    ends = np.cumsum(chars)
    pad = vals == 64
    npad = np.zeros(m, dtype=np.int64)
    if pad.any():
        full = chars > 0
        last1 = np.zeros(m, dtype=bool)
        last2 = np.zeros(m, dtype=bool)
        last1[full] = pad[ends[full] - 1]
        last2[full] = pad[ends[full] - 2]
        if (last2 & ~last1).any() or int(pad.sum()) != int(last1.sum() + last2.sum()):
            return None  # "=" in the middle, or three of them
        npad = last1.astype(np.int64) + last2
        vals = np.where(pad, 0, vals).astype(np.uint8)
    quads = vals.reshape(-1, 4)
    out = np.empty((len(quads), 3), dtype=np.uint8)
    out[:, 0] = (quads[:, 0] << 2) | (quads[:, 1] >> 4)
    out[:, 1] = ((quads[:, 1] & 15) << 4) | (quads[:, 2] >> 2)
    out[:, 2] = ((quads[:, 2] & 3) << 6) | quads[:, 3]
    flat = out.reshape(-1)
    lens = chars // 4 * 3 - npad
    if npad.any():  # drop each text's padding bytes from the end of its output
        keep = np.ones(len(flat), dtype=bool)
        out_ends = np.cumsum(chars // 4 * 3)
        keep[out_ends[npad >= 1] - 1] = False
        keep[out_ends[npad == 2] - 2] = False
        flat = flat[keep]
    return flat, lens


def _cbc_and_parse(
    enc_key: bytes,
    pos: list[int],
    ct_arr: np.ndarray,
    iv_arr: np.ndarray,
    lens: np.ndarray,
    ids: list[str | None],
    results: list[Any],
    raw: bool,
) -> None:
    m = len(pos)
    total = int(lens.sum())
    ends = np.cumsum(lens)
    starts = ends - lens
    # "previous block" stream: ciphertext shifted by one block, IVs at record starts
    prev = np.empty(total, dtype=np.uint8)
    prev[BLOCK:] = ct_arr[:-BLOCK]
    prev.reshape(-1, BLOCK)[starts // BLOCK] = iv_arr.reshape(-1, BLOCK)
    ecb = Cipher(algorithms.AES(enc_key), modes.ECB()).decryptor()  # noqa: S305 - CBC done by hand
    plain = np.frombuffer(ecb.update(ct_arr.tobytes()) + ecb.finalize(), dtype=np.uint8)
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
    except ValueError:
        out: list[Any] = []
        for text, rid in zip(texts, ids):
            try:
                out.append(_load_cleartext(text, rid))
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
