"""Encrypt strings with a profile's NSS "secret decoder ring" (what Firefox's login manager uses).

Run as a separate process (``python _nss_sdr.py PROFILE_DIR``, JSON list of strings on stdin,
JSON list of base64 ciphertexts on stdout) with ``LD_LIBRARY_PATH`` at Firefox's own NSS:
the system NSS may be older than the one Firefox writes key4.db with, and NSS keeps global
state that must not live in the test process.
"""

from __future__ import annotations

import base64
import ctypes
import json
import sys


class SECItem(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint), ("data", ctypes.POINTER(ctypes.c_ubyte)), ("len", ctypes.c_uint)]


def main(profile_dir: str) -> None:
    nss = ctypes.CDLL("libnss3.so")
    nss.NSS_InitReadWrite.argtypes = [ctypes.c_char_p]
    nss.PK11_GetInternalKeySlot.restype = ctypes.c_void_p
    nss.PK11_NeedUserInit.argtypes = [ctypes.c_void_p]
    nss.PK11_InitPin.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    nss.PK11_Authenticate.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    nss.PK11_FreeSlot.argtypes = [ctypes.c_void_p]
    nss.PK11SDR_Encrypt.argtypes = [
        ctypes.POINTER(SECItem),
        ctypes.POINTER(SECItem),
        ctypes.POINTER(SECItem),
        ctypes.c_void_p,
    ]
    nss.SECITEM_ZfreeItem.argtypes = [ctypes.POINTER(SECItem), ctypes.c_int]
    if nss.NSS_InitReadWrite(b"sql:" + profile_dir.encode()) != 0:
        raise SystemExit(f"NSS_InitReadWrite failed for {profile_dir}")
    slot = nss.PK11_GetInternalKeySlot()
    if not slot:
        raise SystemExit("no internal key slot")
    # A new key4.db has no password yet: set the empty one, as Firefox does (no primary password).
    if nss.PK11_NeedUserInit(slot) and nss.PK11_InitPin(slot, None, b"") != 0:
        raise SystemExit("PK11_InitPin failed")
    if nss.PK11_Authenticate(slot, 1, None) != 0:
        raise SystemExit("PK11_Authenticate failed")
    out = []
    for text in json.load(sys.stdin):
        raw = text.encode()
        buf = (ctypes.c_ubyte * len(raw)).from_buffer_copy(raw)
        data = SECItem(0, buf, len(raw))
        keyid = SECItem(0, None, 0)  # empty: the default SDR key, created on first use
        result = SECItem(0, None, 0)
        if nss.PK11SDR_Encrypt(ctypes.byref(keyid), ctypes.byref(data), ctypes.byref(result), None) != 0:
            raise SystemExit("PK11SDR_Encrypt failed")
        out.append(base64.b64encode(ctypes.string_at(result.data, result.len)).decode())
        nss.SECITEM_ZfreeItem(ctypes.byref(result), 0)
    nss.PK11_FreeSlot(slot)
    if nss.NSS_Shutdown() != 0:
        raise SystemExit("NSS_Shutdown failed")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
