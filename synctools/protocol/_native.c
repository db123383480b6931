/* synctools.protocol._native: the hot loop of the bulk decryption path, compiled.
 *
 * decrypt_payloads(hmac_key, enc_key, payloads) -> list[bytes | None]
 *
 * For each payload string: read the envelope {"ciphertext": b64, "IV": b64, "hmac": hex},
 * check the HMAC-SHA256 of the base64 ciphertext's ASCII bytes, decode the ciphertext and
 * IV, AES-256-CBC decrypt and strip the PKCS#7 padding. The result is the verified
 * cleartext bytes, or None when the record is anything but the plain good case: an
 * envelope that is not exactly those three keys once each with plain string values (an
 * escape, an extra key, a duplicate...), non-ASCII text, non-canonical base64, an HMAC
 * mismatch, a wrong IV length, bad padding. A None is decided again by the Python path,
 * which names the precise error; so this module can only ever ACCEPT what the Python path
 * accepts, with the same bytes, and every error and its wording stay in one place
 * (_payload/_bulk).
 *
 * The per-record work runs without the GIL: a decrypting thread leaves the other core
 * to the rest of the program (fetching the next page, parsing JSON, SQLite).
 * Crypto is OpenSSL's (libcrypto, the library Python's own hashlib and ssl use): the
 * HMAC keeps the inner and outer SHA-256 states of the key and resumes them per record;
 * AES-CBC goes through EVP (AES-NI where the CPU has it).
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX: resumable HMAC states without a malloc */
#include <Python.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

static signed char B64[256];

typedef struct {
    const unsigned char *payload;
    Py_ssize_t payload_len;
    const unsigned char *ct, *iv, *mac;
    Py_ssize_t ct_len, iv_len, mac_len;
    Py_ssize_t off;  /* where its cleartext starts in the output buffer */
    Py_ssize_t len;  /* cleartext length, or -1: let the Python path decide */
} item;

/* Canonical standard base64 only (length a multiple of 4, the alphabet, one or two
 * trailing '='): the decoded length, or -1 for anything else. */
static Py_ssize_t
b64_decode(const unsigned char *s, Py_ssize_t n, unsigned char *out)
{
    if (n % 4)
        return -1;
    if (n == 0)
        return 0;
    Py_ssize_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    Py_ssize_t data = n - pad, i = 0, o = 0;
    for (; i + 4 <= data; i += 4) {
        int a = B64[s[i]], b = B64[s[i + 1]], c = B64[s[i + 2]], d = B64[s[i + 3]];
        if ((a | b | c | d) < 0)
            return -1;
        uint32_t v = ((uint32_t)a << 18) | ((uint32_t)b << 12) | ((uint32_t)c << 6) | (uint32_t)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (data - i == 2) {
        int a = B64[s[i]], b = B64[s[i + 1]];
        if ((a | b) < 0)
            return -1;
        out[o++] = (unsigned char)((a << 2) | (b >> 4));
    }
    else if (data - i == 3) {
        int a = B64[s[i]], b = B64[s[i + 1]], c = B64[s[i + 2]];
        if ((a | b | c) < 0)
            return -1;
        out[o++] = (unsigned char)((a << 2) | (b >> 4));
        out[o++] = (unsigned char)(((b & 0xf) << 4) | (c >> 2));
    }
    return o;
}

static int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static Py_ssize_t
skip_ws(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* A JSON string starting at s[i] == '"' with no escape and no control character: its
 * content's start and length; returns the index after the closing quote, or -1. */
static Py_ssize_t
plain_string(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, const unsigned char **start, Py_ssize_t *len)
{
    if (i >= n || s[i] != '"')
        return -1;
    Py_ssize_t j = ++i;
    while (j < n && s[j] != '"') {
        if (s[j] == '\\' || s[j] < 0x20)
            return -1;
        j++;
    }
    if (j >= n)
        return -1;
    *start = s + i;
    *len = j - i;
    return j + 1;
}

/* The envelope's three fields, when the payload is exactly one object with the keys
 * ciphertext, IV and hmac, once each, every value a plain string; else -1. */
static int
envelope(item *it)
{
    const unsigned char *s = it->payload, *key, *val;
    Py_ssize_t n = it->payload_len, klen, vlen, i = skip_ws(s, 0, n);
    int seen = 0;
    if (i >= n || s[i++] != '{')
        return -1;
    for (;;) {
        if ((i = plain_string(s, skip_ws(s, i, n), n, &key, &klen)) < 0)
            return -1;
        i = skip_ws(s, i, n);
        if (i >= n || s[i++] != ':')
            return -1;
        if ((i = plain_string(s, skip_ws(s, i, n), n, &val, &vlen)) < 0)
            return -1;
        if (klen == 10 && !memcmp(key, "ciphertext", 10) && !(seen & 1)) {
            it->ct = val, it->ct_len = vlen, seen |= 1;
        }
        else if (klen == 2 && !memcmp(key, "IV", 2) && !(seen & 2)) {
            it->iv = val, it->iv_len = vlen, seen |= 2;
        }
        else if (klen == 4 && !memcmp(key, "hmac", 4) && !(seen & 4)) {
            it->mac = val, it->mac_len = vlen, seen |= 4;
        }
        else
            return -1;
        i = skip_ws(s, i, n);
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        if (i < n && s[i] == '}')
            break;
        return -1;
    }
    return seen == 7 && skip_ws(s, i + 1, n) == n ? 0 : -1;
}

/* One record; 0 when it is the plain good case, with it->len set. */
static int
one(item *it, const SHA256_CTX *inner, const SHA256_CTX *outer, EVP_CIPHER_CTX *ctx,
    unsigned char *scratch, unsigned char *out)
{
    unsigned char digest[SHA256_DIGEST_LENGTH], iv[32];
    SHA256_CTX c;

    if (envelope(it))
        return -1;
    if (it->mac_len != 2 * SHA256_DIGEST_LENGTH)
        return -1;
    c = *inner;
    SHA256_Update(&c, it->ct, (size_t)it->ct_len);
    SHA256_Final(digest, &c);
    c = *outer;
    SHA256_Update(&c, digest, sizeof digest);
    SHA256_Final(digest, &c);
    for (int k = 0; k < SHA256_DIGEST_LENGTH; k++) {
        int hi = hexval(it->mac[2 * k]), lo = hexval(it->mac[2 * k + 1]);
        if (hi < 0 || lo < 0 || ((hi << 4) | lo) != digest[k])
            return -1;
    }
    if (it->iv_len != 24 || b64_decode(it->iv, it->iv_len, iv) != 16)
        return -1;
    Py_ssize_t n = b64_decode(it->ct, it->ct_len, scratch);
    if (n <= 0 || n % 16 || n > INT_MAX)
        return -1;
    int outl = 0;
    if (!EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) || !EVP_DecryptUpdate(ctx, out, &outl, scratch, (int)n) ||
        outl != n)
        return -1;
    int pad = out[n - 1];
    if (pad < 1 || pad > 16)
        return -1;
    for (int k = 2; k <= pad; k++)
        if (out[n - k] != pad)
            return -1;
    it->len = n - pad;
    return 0;
}

static int
ascii_of(PyObject *s, const unsigned char **data, Py_ssize_t *len)
{
    if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_COMPACT_ASCII(s))
        return -1;
    *data = (const unsigned char *)PyUnicode_DATA(s);
    *len = PyUnicode_GET_LENGTH(s);
    return 0;
}

static void
key_state(SHA256_CTX *st, const unsigned char *key, Py_ssize_t klen, unsigned char x)
{
    unsigned char block[64];
    memset(block, 0, sizeof block);
    if (klen > 64)
        SHA256(key, (size_t)klen, block);
    else
        memcpy(block, key, (size_t)klen);
    for (int k = 0; k < 64; k++)
        block[k] ^= x;
    SHA256_Init(st);
    SHA256_Update(st, block, sizeof block);
}

static PyObject *
decrypt_payloads(PyObject *self, PyObject *args)
{
    Py_buffer hkey, ekey;
    PyObject *payloads, *held = NULL, *result = NULL; /* held: the payloads as a tuple, alive without the GIL */
    item *items = NULL;
    unsigned char *out = NULL, *scratch = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    Py_ssize_t m = 0, total = 0, widest = 0;
    SHA256_CTX inner, outer;

    if (!PyArg_ParseTuple(args, "y*y*O:decrypt_payloads", &hkey, &ekey, &payloads))
        return NULL;
    if (ekey.len != 32) {
        PyErr_SetString(PyExc_ValueError, "the encryption key must be 32 bytes");
        goto done;
    }
    if ((held = PySequence_Tuple(payloads)) == NULL)
        goto done;
    m = PyTuple_GET_SIZE(held);
    if ((items = PyMem_RawCalloc((size_t)(m ? m : 1), sizeof(item))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        item *it = &items[i];
        it->len = -1;
        if (ascii_of(PyTuple_GET_ITEM(held, i), &it->payload, &it->payload_len))
            continue; /* not an ASCII string (a dict, bytes, non-ASCII text): the Python path decides */
        it->off = total;
        Py_ssize_t most = it->payload_len / 4 * 3; /* the ciphertext is shorter than its payload */
        total += most;
        if (most > widest)
            widest = most;
    }
    out = PyMem_RawMalloc((size_t)(total ? total : 1));
    scratch = PyMem_RawMalloc((size_t)(widest ? widest : 1));
    ctx = EVP_CIPHER_CTX_new();
    if (out == NULL || scratch == NULL || ctx == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (!EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, (const unsigned char *)ekey.buf, NULL) ||
        !EVP_CIPHER_CTX_set_padding(ctx, 0)) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL could not set up AES-256-CBC");
        goto done;
    }
    key_state(&inner, (const unsigned char *)hkey.buf, hkey.len, 0x36);
    key_state(&outer, (const unsigned char *)hkey.buf, hkey.len, 0x5c);

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m; i++)
        if (items[i].payload != NULL)
            one(&items[i], &inner, &outer, ctx, scratch, out + items[i].off);
    Py_END_ALLOW_THREADS

    if ((result = PyList_New(m)) == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *v;
        if (items[i].len < 0) {
            v = Py_None;
            Py_INCREF(v);
        }
        else if ((v = PyBytes_FromStringAndSize((const char *)out + items[i].off, items[i].len)) == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, v);
    }

done:
    if (out != NULL) /* cleartext: wiped before it goes back to the allocator */
        OPENSSL_cleanse(out, (size_t)(total ? total : 1));
    if (scratch != NULL)
        OPENSSL_cleanse(scratch, (size_t)(widest ? widest : 1));
    EVP_CIPHER_CTX_free(ctx);
    PyMem_RawFree(out);
    PyMem_RawFree(scratch);
    PyMem_RawFree(items);
    Py_XDECREF(held);
    PyBuffer_Release(&hkey);
    PyBuffer_Release(&ekey);
    return result;
}

static PyMethodDef methods[] = {
    {"decrypt_payloads", decrypt_payloads, METH_VARARGS,
     "decrypt_payloads(hmac_key, enc_key, payloads) -> list[bytes | None]\n\n"
     "Each payload's verified cleartext, or None where the Python path must decide."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__native(void)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(B64, -1, sizeof B64);
    for (int k = 0; k < 64; k++)
        B64[(unsigned char)alphabet[k]] = (signed char)k;
    return PyModule_Create(&module);
}
