/* synctools.protocol._native: the hot loops of a download, compiled.
 *
 * Three entry points, each of which only ever ACCEPTS what the Python path accepts, with
 * the same result, and hands anything else back (None) for the Python path to decide:
 * page_columns (a page of BSOs into columns, below), decrypt_payloads (here) and
 * history_columns (history's cleartexts into column buffers, below).
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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* After an object member (close '}') or an array element (close ']'): 1 and past a ','
 * and the whitespace after it (another follows), 0 and past the closing character, or -1. */
static int
next_item(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, unsigned char close)
{
    Py_ssize_t j = skip_ws(s, *i, n);
    if (j < n && (s[j] == ',' || s[j] == close)) {
        *i = s[j] == ',' ? skip_ws(s, j + 1, n) : j + 1;
        return s[j] == ',';
    }
    return -1;
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
        int more = next_item(s, n, &i, '}');
        if (more < 0)
            return -1;
        if (!more)
            break;
    }
    return seen == 7 && skip_ws(s, i, n) == n ? 0 : -1;
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


/* ------------------------------------------------------------------ history cleartexts
 *
 * history_columns(texts, ids) -> tuple | None
 *
 * History's cleartexts (verified bytes, one JSON object each) read straight into column
 * buffers: the plain shape Firefox writes ({"id", "histUri", "title", "visits":
 * [{"date", "type"}], "deleted"}, keys in any order, any JSON whitespace, string escapes
 * including surrogate pairs). None for a batch holding anything else (an unknown or
 * repeated key, an escaped key, a null where it matters, a number that is not an int64
 * above the lowest, a lone surrogate, an id that is not its BSO's, a tombstone with
 * content): then history's Arrow and plain readers decide, and name each bad record.
 * UTF-8 of the url and title buffers is checked by the caller (Arrow's validate).
 */

typedef struct {
    unsigned char *p;
    Py_ssize_t len, cap;
} buf;

static int
buf_grow(buf *b, Py_ssize_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    unsigned char *p = PyMem_RawRealloc(b->p, (size_t)cap);
    if (p == NULL)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int
buf_put(buf *b, const void *src, Py_ssize_t n)
{
    if (buf_grow(b, n))
        return -1;
    memcpy(b->p + b->len, src, (size_t)n);
    b->len += n;
    return 0;
}

static int
buf_i64(buf *b, int64_t v)
{
    return buf_put(b, &v, sizeof v);
}

static int
buf_u8(buf *b, unsigned char v)
{
    return buf_put(b, &v, 1);
}

enum { FALLBACK = -1, NOMEM = -2 };

static int
hex4(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, unsigned *out)
{
    if (i + 4 > n)
        return -1;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[i + k]);
        if (h < 0)
            return -1;
        v = (v << 4) | (unsigned)h;
    }
    *out = v;
    return 0;
}

/* The end of the run of plain string bytes from s[j]: the first '"', '\\' or control
 * character at or after j, or n. Sixteen bytes a step where SSE2 is there (every x86-64);
 * a sync payload is long runs of base64 between a dozen escaped quotes. */
static Py_ssize_t
plain_run(const unsigned char *s, Py_ssize_t j, Py_ssize_t n)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'), low = _mm_set1_epi8(0x1F);
    while (j + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + j));
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)),
                                    _mm_cmpeq_epi8(_mm_max_epu8(v, low), low)); /* v <= 0x1F, unsigned */
        int mask = _mm_movemask_epi8(stop);
        if (mask)
            return j + __builtin_ctz((unsigned)mask);
        j += 16;
    }
#endif
    while (j < n && s[j] != '"' && s[j] != '\\' && s[j] >= 0x20)
        j++;
    return j;
}

/* A JSON string at s[*i] == '"', its content (escapes decoded, as UTF-8) put in out;
 * *i moves past the closing quote. FALLBACK for a lone surrogate or a bad escape. */
static int
json_string(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, buf *out)
{
    Py_ssize_t j = *i;
    if (j >= n || s[j] != '"')
        return FALLBACK;
    j++;
    for (;;) {
        Py_ssize_t run = j;
        j = plain_run(s, j, n);
        if (j > run && buf_put(out, s + run, j - run))
            return NOMEM;
        if (j >= n || s[j] < 0x20)
            return FALLBACK;
        if (s[j] == '"')
            break;
        if (++j >= n) /* a backslash */
            return FALLBACK;
        unsigned char c = s[j++], e;
        switch (c) {
        case '"': case '\\': case '/': e = c; break;
        case 'b': e = '\b'; break;
        case 'f': e = '\f'; break;
        case 'n': e = '\n'; break;
        case 'r': e = '\r'; break;
        case 't': e = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(s, j, n, &cp))
                return FALLBACK;
            j += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return FALLBACK; /* a lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (j + 6 > n || s[j] != '\\' || s[j + 1] != 'u' || hex4(s, j + 2, n, &lo) || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return FALLBACK; /* a lone high surrogate */
                j += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            unsigned char u[4];
            int k;
            if (cp < 0x80)
                u[0] = (unsigned char)cp, k = 1;
            else if (cp < 0x800)
                u[0] = (unsigned char)(0xC0 | (cp >> 6)), u[1] = (unsigned char)(0x80 | (cp & 0x3F)), k = 2;
            else if (cp < 0x10000)
                u[0] = (unsigned char)(0xE0 | (cp >> 12)), u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)),
                u[2] = (unsigned char)(0x80 | (cp & 0x3F)), k = 3;
            else
                u[0] = (unsigned char)(0xF0 | (cp >> 18)), u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F)),
                u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (unsigned char)(0x80 | (cp & 0x3F)), k = 4;
            if (buf_put(out, u, k))
                return NOMEM;
            continue;
        }
        default:
            return FALLBACK;
        }
        if (buf_put(out, &e, 1))
            return NOMEM;
    }
    *i = j + 1;
    return 0;
}

/* A JSON number that is an integer strictly above INT64_MIN (no fraction, no exponent). */
static int
json_int(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, int64_t *out)
{
    Py_ssize_t j = *i;
    int neg = 0;
    if (j < n && s[j] == '-')
        neg = 1, j++;
    if (j >= n || s[j] < '0' || s[j] > '9' || (s[j] == '0' && j + 1 < n && s[j + 1] >= '0' && s[j + 1] <= '9'))
        return FALLBACK;
    uint64_t v = 0;
    while (j < n && s[j] >= '0' && s[j] <= '9') {
        unsigned d = (unsigned)(s[j++] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return FALLBACK;
        v = v * 10 + d;
    }
    if (j < n && (s[j] == '.' || s[j] == 'e' || s[j] == 'E'))
        return FALLBACK;
    if (v > (uint64_t)INT64_MAX) /* beyond int64; and -2^63, the lowest, which marks "no visit" */
        return FALLBACK;
    *out = neg ? -(int64_t)v : (int64_t)v;
    *i = j;
    return 0;
}

static int
literal(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, const char *word)
{
    size_t k = strlen(word);
    if (*i + (Py_ssize_t)k > n || memcmp(s + *i, word, k))
        return -1;
    *i += (Py_ssize_t)k;
    return 0;
}

/* A key without escapes: its bytes (pointing into s) and length. */
static int
plain_key(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, const unsigned char **k, Py_ssize_t *klen)
{
    const unsigned char *start;
    Py_ssize_t j = plain_string(s, *i, n, &start, klen);
    if (j < 0)
        return FALLBACK;
    *k = start;
    *i = j;
    return 0;
}


/* An object's next member key at s[*i] (whitespace first): which of ``names`` (NULL-ended)
 * it is, as the bit 1 << its index, each at most once (``seen``); *i moves past the ':'
 * and the whitespace after it. FALLBACK for an escaped, unknown or repeated key. */
static int
member_key(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, const char *const *names, int *seen)
{
    const unsigned char *k;
    Py_ssize_t klen, j = skip_ws(s, *i, n);
    int which = 0;
    if (plain_key(s, n, &j, &k, &klen))
        return FALLBACK;
    for (int b = 0; names[b] != NULL && !which; b++)
        if ((Py_ssize_t)strlen(names[b]) == klen && !memcmp(k, names[b], (size_t)klen))
            which = 1 << b;
    if (!which || (*seen & which))
        return FALLBACK;
    *seen |= which;
    j = skip_ws(s, j, n);
    if (j >= n || s[j++] != ':')
        return FALLBACK;
    *i = skip_ws(s, j, n);
    return which;
}

typedef struct {
    buf deleted, url_off, url_data, url_valid, title_off, title_data, title_valid, count;
    buf vdate, vdate_valid, vtype, vtype_valid, scratch;
} hcols;

/* One visit object at s[*i]. */
static int
visit(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, hcols *c)
{
    Py_ssize_t j = skip_ws(s, *i, n);
    int64_t date = 0, type = 0;
    int seen = 0, has_date = 0, has_type = 0, r;
    if (j >= n || s[j++] != '{')
        return FALLBACK;
    j = skip_ws(s, j, n);
    if (j < n && s[j] == '}')
        j++;
    else
        for (;;) {
            static const char *const names[] = {"date", "type", NULL};
            int which = member_key(s, n, &j, names, &seen);
            if (which < 0)
                return FALLBACK;
            if (literal(s, n, &j, "null") == 0)
                ;
            else if ((r = json_int(s, n, &j, which == 1 ? &date : &type)) != 0)
                return r;
            else if (which == 1)
                has_date = 1;
            else
                has_type = 1;
            int more = next_item(s, n, &j, '}');
            if (more < 0)
                return FALLBACK;
            if (!more)
                break;
        }
    if (buf_i64(&c->vdate, has_date ? date : 0) || buf_u8(&c->vdate_valid, (unsigned char)has_date) ||
        buf_i64(&c->vtype, has_type ? type : 0) || buf_u8(&c->vtype_valid, (unsigned char)has_type))
        return NOMEM;
    *i = j;
    return 0;
}

/* One history record; its row appended to the columns. */
static int
history_record(const unsigned char *s, Py_ssize_t n, const char *want_id, Py_ssize_t want_len, hcols *c)
{
    Py_ssize_t j = skip_ws(s, 0, n), url_start = c->url_data.len, title_start = c->title_data.len;
    int seen = 0, deleted = 0, url = 0, title = 0, visits = 0, r;
    int64_t count = 0;
    enum { ID = 1, DELETED = 2, URI = 4, TITLE = 8, VISITS = 16 };
    if (j >= n || s[j++] != '{')
        return FALLBACK;
    for (int more = 1; more;) {
        static const char *const names[] = {"id", "deleted", "histUri", "title", "visits", NULL};
        int which = member_key(s, n, &j, names, &seen);
        switch (which) {
        case ID:
            c->scratch.len = 0;
            if ((r = json_string(s, n, &j, &c->scratch)) != 0)
                return r;
            if (c->scratch.len != want_len || memcmp(c->scratch.p, want_id, (size_t)want_len))
                return FALLBACK; /* not its BSO's id: the plain reader names it */
            break;
        case DELETED:
            if (literal(s, n, &j, "true") == 0)
                deleted = 1;
            else if (literal(s, n, &j, "false") != 0)
                return FALLBACK; /* "deleted": null or another type is a bad record */
            break;
        case URI:
        case TITLE:
            if (literal(s, n, &j, "null") == 0)
                break;
            if ((r = json_string(s, n, &j, which == URI ? &c->url_data : &c->title_data)) != 0)
                return r;
            if (which == URI)
                url = 1;
            else
                title = 1;
            break;
        case VISITS:
            if (literal(s, n, &j, "null") == 0)
                break;
            if (j >= n || s[j++] != '[')
                return FALLBACK;
            visits = 1;
            j = skip_ws(s, j, n);
            if (j < n && s[j] == ']') {
                j++;
                break;
            }
            for (int more = 1; more;) {
                if ((r = visit(s, n, &j, c)) != 0)
                    return r;
                count++;
                if ((more = next_item(s, n, &j, ']')) < 0)
                    return FALLBACK;
            }
            break;
        default: /* FALLBACK: an escaped, unknown or repeated key */
            return FALLBACK;
        }
        if ((more = next_item(s, n, &j, '}')) < 0)
            return FALLBACK;
    }
    if (skip_ws(s, j, n) != n || !(seen & ID))
        return FALLBACK;
    if (deleted && (url || title || visits))
        return FALLBACK; /* a tombstone with content: the plain reader keeps it in `extra` */
    if (!url)
        c->url_data.len = url_start;
    if (!title)
        c->title_data.len = title_start;
    if (buf_u8(&c->deleted, (unsigned char)deleted) || buf_i64(&c->url_off, c->url_data.len) ||
        buf_u8(&c->url_valid, (unsigned char)url) || buf_i64(&c->title_off, c->title_data.len) ||
        buf_u8(&c->title_valid, (unsigned char)title) || buf_i64(&c->count, count))
        return NOMEM;
    return 0;
}

static PyObject *
history_columns(PyObject *self, PyObject *args)
{
    PyObject *texts, *ids, *held_texts = NULL, *held_ids = NULL, *result = NULL;
    hcols c;
    buf *all[] = {&c.deleted, &c.url_off, &c.url_data, &c.url_valid, &c.title_off, &c.title_data, &c.title_valid,
                  &c.count, &c.vdate, &c.vdate_valid, &c.vtype, &c.vtype_valid, &c.scratch};
    const int nout = 12; /* all but scratch */
    int r = 0;

    memset(&c, 0, sizeof c);
    if (!PyArg_ParseTuple(args, "OO:history_columns", &texts, &ids))
        return NULL;
    if ((held_texts = PySequence_Tuple(texts)) == NULL || (held_ids = PySequence_Tuple(ids)) == NULL)
        goto done;
    Py_ssize_t m = PyTuple_GET_SIZE(held_texts);
    if (PyTuple_GET_SIZE(held_ids) != m) {
        PyErr_SetString(PyExc_ValueError, "texts and ids must have the same length");
        goto done;
    }
    const char **want = PyMem_RawCalloc((size_t)(m ? m : 1), sizeof(char *));
    Py_ssize_t *want_len = PyMem_RawCalloc((size_t)(m ? m : 1), sizeof(Py_ssize_t));
    if (want == NULL || want_len == NULL) {
        PyMem_RawFree(want);
        PyMem_RawFree(want_len);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < m && r == 0; i++) {
        PyObject *t = PyTuple_GET_ITEM(held_texts, i), *id = PyTuple_GET_ITEM(held_ids, i);
        if (!PyBytes_CheckExact(t) || !PyUnicode_CheckExact(id) ||
            (want[i] = PyUnicode_AsUTF8AndSize(id, &want_len[i])) == NULL)
            r = FALLBACK;
    }
    PyErr_Clear(); /* an id that is not UTF-8 (a lone surrogate): the other readers decide */
    if (r == 0 && (buf_i64(&c.url_off, 0) || buf_i64(&c.title_off, 0)))
        r = NOMEM;
    if (r == 0) {
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < m && r == 0; i++) {
            PyObject *t = PyTuple_GET_ITEM(held_texts, i);
            r = history_record((const unsigned char *)PyBytes_AS_STRING(t), PyBytes_GET_SIZE(t), want[i],
                               want_len[i], &c);
        }
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(want);
    PyMem_RawFree(want_len);
    if (r == NOMEM) {
        PyErr_NoMemory();
        goto done;
    }
    if (r == FALLBACK) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if ((result = PyTuple_New(nout)) == NULL)
        goto done;
    for (int k = 0; k < nout; k++) {
        PyObject *b = PyBytes_FromStringAndSize((const char *)all[k]->p, all[k]->len);
        if (b == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyTuple_SET_ITEM(result, k, b);
    }

done:
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        if (all[k]->p != NULL) /* url, title: cleartext, wiped before it goes back */
            OPENSSL_cleanse(all[k]->p, (size_t)all[k]->cap);
        PyMem_RawFree(all[k]->p);
    }
    Py_XDECREF(held_texts);
    Py_XDECREF(held_ids);
    return result;
}

/* ------------------------------------------------------------------ a page of BSOs
 *
 * page_columns(body, now) -> tuple | None
 *
 * A storage node's page (GET /storage/<collection>?full=1: a JSON array of BSO objects)
 * read straight into columns: (ids, payloads, modified in hundredths of a second as
 * int64 bytes, sortindex, ttl). It accepts exactly what json.loads + columns_from_json
 * accept, with the same values, and no more: every object holds "id", "modified",
 * "payload" and at most "sortindex" and "ttl" (plain keys, once each); the id is 1-64
 * printable ASCII characters, the payload a string (any escape but a lone surrogate),
 * "modified" a plain decimal of at most 11 digits and 2 decimals (the server's own
 * form: its hundredths are then exact, as rint(value * 100) gives them) no later than
 * ``now`` (-1: no bound), sortindex and ttl an int64 in their range, or null. Anything
 * else - another key, a fraction where an integer belongs, a bad byte, trailing text -
 * gives None, and the JSON parser and the per-record checks decide (and name it).
 */

#define MAX_SORTINDEX 999999999LL
#define MAX_TTL 999999999LL
#define MAX_CENTIS 10000000000000LL /* 1e11 seconds */

typedef struct {
    buf data;              /* decoded ids and payloads, back to back */
    buf spans;             /* int64 per record: id offset, id length, payload offset, payload length */
    buf centis, si, ttl;   /* int64 per record */
    buf si_set, ttl_set;   /* u8 per record: 0 for null or absent */
} pcols;

/* Whether any of the n bytes at p is 0x80 or above (not ASCII). */
static int
any_wide(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t j = 0;
#ifdef __SSE2__
    __m128i acc = _mm_setzero_si128();
    for (; j + 16 <= n; j += 16)
        acc = _mm_or_si128(acc, _mm_loadu_si128((const __m128i *)(p + j)));
    if (_mm_movemask_epi8(acc))
        return 1;
#endif
    for (; j < n; j++)
        if (p[j] >= 0x80)
            return 1;
    return 0;
}

/* "modified": digits (no sign, no leading zero, at most 11), then at most 2 decimals. */
static int
json_time(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, int64_t *centis)
{
    Py_ssize_t j = *i, start = j;
    int64_t whole = 0, frac = 0;
    if (j >= n || s[j] < '0' || s[j] > '9' || (s[j] == '0' && j + 1 < n && s[j + 1] >= '0' && s[j + 1] <= '9'))
        return FALLBACK;
    while (j < n && s[j] >= '0' && s[j] <= '9') {
        if (j - start >= 11)
            return FALLBACK;
        whole = whole * 10 + (s[j++] - '0');
    }
    if (j < n && s[j] == '.') {
        j++;
        int digits = 0;
        while (j < n && s[j] >= '0' && s[j] <= '9') {
            if (++digits > 2)
                return FALLBACK;
            frac = frac * 10 + (s[j++] - '0');
        }
        if (digits == 0)
            return FALLBACK;
        if (digits == 1)
            frac *= 10;
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E'))
        return FALLBACK;
    *centis = whole * 100 + frac;
    *i = j;
    return 0;
}

/* sortindex or ttl: null, or an int64 within low..high. */
static int
json_bounded(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, int64_t low, int64_t high, buf *vals, buf *set)
{
    int64_t v = 0;
    if (literal(s, n, i, "null") == 0)
        return buf_i64(vals, 0) || buf_u8(set, 0) ? NOMEM : 0;
    if (json_int(s, n, i, &v) || v < low || v > high)
        return FALLBACK;
    return buf_i64(vals, v) || buf_u8(set, 1) ? NOMEM : 0;
}

/* One BSO object at s[*i]; its row appended to the columns. */
static int
page_record(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, int64_t now, pcols *c)
{
    Py_ssize_t j = *i;
    int64_t span[4] = {0, 0, 0, 0}, centis = 0;
    int seen = 0, r;
    enum { ID = 1, MODIFIED = 2, PAYLOAD = 4, SORTINDEX = 8, TTL = 16 };
    if (j >= n || s[j++] != '{')
        return FALLBACK;
    for (int more = 1; more;) {
        static const char *const names[] = {"id", "modified", "payload", "sortindex", "ttl", NULL};
        int which = member_key(s, n, &j, names, &seen);
        switch (which) {
        case ID:
        case PAYLOAD: {
            int at = which == ID ? 0 : 2;
            span[at] = c->data.len;
            if ((r = json_string(s, n, &j, &c->data)) != 0)
                return r;
            span[at + 1] = c->data.len - span[at];
            break;
        }
        case MODIFIED:
            if ((r = json_time(s, n, &j, &centis)) != 0)
                return r;
            break;
        case SORTINDEX:
            if ((r = json_bounded(s, n, &j, -MAX_SORTINDEX, MAX_SORTINDEX, &c->si, &c->si_set)) != 0)
                return r;
            break;
        case TTL:
            if ((r = json_bounded(s, n, &j, 0, MAX_TTL, &c->ttl, &c->ttl_set)) != 0)
                return r;
            break;
        default: /* FALLBACK: an escaped, unknown or repeated key */
            return FALLBACK;
        }
        if ((more = next_item(s, n, &j, '}')) < 0)
            return FALLBACK;
    }
    if ((seen & (ID | MODIFIED | PAYLOAD)) != (ID | MODIFIED | PAYLOAD))
        return FALLBACK;
    if (centis >= MAX_CENTIS || (now >= 0 && centis > now))
        return FALLBACK;
    if (span[1] < 1 || span[1] > 64)
        return FALLBACK;
    for (int64_t k = 0; k < span[1]; k++) {
        unsigned char ch = c->data.p[span[0] + k];
        if (ch < 0x20 || ch > 0x7E)
            return FALLBACK;
    }
    if ((!(seen & SORTINDEX) && (buf_i64(&c->si, 0) || buf_u8(&c->si_set, 0))) ||
        (!(seen & TTL) && (buf_i64(&c->ttl, 0) || buf_u8(&c->ttl_set, 0))))
        return NOMEM;
    if (buf_put(&c->spans, span, sizeof span) || buf_i64(&c->centis, centis))
        return NOMEM;
    *i = j;
    return 0;
}

static int
page_scan(const unsigned char *s, Py_ssize_t n, int64_t now, pcols *c, Py_ssize_t *count)
{
    Py_ssize_t j = skip_ws(s, 0, n);
    int r;
    *count = 0;
    if (j >= n || s[j++] != '[')
        return FALLBACK;
    j = skip_ws(s, j, n);
    if (j < n && s[j] == ']')
        j++;
    else
        for (int more = 1; more;) {
            if ((r = page_record(s, n, &j, now, c)) != 0)
                return r;
            ++*count;
            if ((more = next_item(s, n, &j, ']')) < 0)
                return FALLBACK;
        }
    return skip_ws(s, j, n) == n ? 0 : FALLBACK;
}

/* A str of the n bytes at p: ASCII copied, anything else decoded (NULL: not UTF-8). */
static PyObject *
text_of(const unsigned char *p, Py_ssize_t n, int wide)
{
    if (wide)
        return PyUnicode_DecodeUTF8((const char *)p, n, "strict");
    PyObject *u = PyUnicode_New(n, 127);
    if (u != NULL)
        memcpy(PyUnicode_DATA(u), p, (size_t)n);
    return u;
}

static PyObject *
optional_ints(const buf *vals, const buf *set, Py_ssize_t count)
{
    PyObject *out = PyList_New(count);
    const int64_t *v = (const int64_t *)vals->p;
    for (Py_ssize_t k = 0; out != NULL && k < count; k++) {
        PyObject *x = set->p[k] ? PyLong_FromLongLong(v[k]) : Py_NewRef(Py_None);
        if (x == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, k, x);
    }
    return out;
}

static PyObject *
page_columns(PyObject *self, PyObject *args)
{
    PyObject *body, *ids = NULL, *payloads = NULL, *centis = NULL, *si = NULL, *ttl = NULL, *result = NULL;
    long long now;
    pcols c;
    buf *all[] = {&c.data, &c.spans, &c.centis, &c.si, &c.ttl, &c.si_set, &c.ttl_set};
    Py_ssize_t count = 0;
    int r, wide = 0;

    memset(&c, 0, sizeof c);
    if (!PyArg_ParseTuple(args, "OL:page_columns", &body, &now))
        return NULL;
    if (!PyBytes_CheckExact(body))
        Py_RETURN_NONE;
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(body);
    Py_ssize_t n = PyBytes_GET_SIZE(body);
    Py_BEGIN_ALLOW_THREADS
    r = buf_grow(&c.data, n) ? NOMEM : 0; /* the strings decoded are never longer than the body */
    if (r == 0)
        r = page_scan(s, n, (int64_t)now, &c, &count);
    if (r == 0)
        wide = any_wide(c.data.p, c.data.len); /* the common page: every string ASCII, copied as is */
    Py_END_ALLOW_THREADS
    if (r == NOMEM) {
        PyErr_NoMemory();
        goto done;
    }
    if (r == FALLBACK) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if ((ids = PyList_New(count)) == NULL || (payloads = PyList_New(count)) == NULL)
        goto done;
    const int64_t *span = (const int64_t *)c.spans.p;
    for (Py_ssize_t k = 0; k < count; k++, span += 4) {
        PyObject *id = text_of(c.data.p + span[0], (Py_ssize_t)span[1], 0);
        if (id == NULL)
            goto done;
        PyList_SET_ITEM(ids, k, id);
        const unsigned char *p = c.data.p + span[2];
        PyObject *pl = text_of(p, (Py_ssize_t)span[3], wide && any_wide(p, (Py_ssize_t)span[3]));
        if (pl == NULL) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) { /* not UTF-8: the JSON parser says so */
                PyErr_Clear();
                result = Py_NewRef(Py_None);
            }
            goto done;
        }
        PyList_SET_ITEM(payloads, k, pl);
    }
    if ((centis = PyByteArray_FromStringAndSize((const char *)c.centis.p, c.centis.len)) == NULL ||
        (si = optional_ints(&c.si, &c.si_set, count)) == NULL || (ttl = optional_ints(&c.ttl, &c.ttl_set, count)) == NULL)
        goto done;
    result = PyTuple_Pack(5, ids, payloads, centis, si, ttl);

done:
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        PyMem_RawFree(all[k]->p);
    Py_XDECREF(ids);
    Py_XDECREF(payloads);
    Py_XDECREF(centis);
    Py_XDECREF(si);
    Py_XDECREF(ttl);
    return result;
}

static PyMethodDef methods[] = {
    {"decrypt_payloads", decrypt_payloads, METH_VARARGS,
     "decrypt_payloads(hmac_key, enc_key, payloads) -> list[bytes | None]\n\n"
     "Each payload's verified cleartext, or None where the Python path must decide."},
    {"history_columns", history_columns, METH_VARARGS,
     "history_columns(texts, ids) -> tuple[bytes, ...] | None\n\n"
     "History cleartexts as column buffers (deleted, url offsets/data/valid, title offsets/data/valid,\n"
     "visit count, date, date valid, type, type valid), or None where Arrow and the plain reader decide."},
    {"page_columns", page_columns, METH_VARARGS,
     "page_columns(body, now) -> tuple | None\n\n"
     "A page of BSOs (JSON bytes) as (ids, payloads, modified centis as int64 bytes, sortindex, ttl),\n"
     "or None where the JSON parser and columns_from_json decide. now: the answer's time in\n"
     "hundredths of a second, or -1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__native(void)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(B64, -1, sizeof B64);
    for (int k = 0; k < 64; k++)
        B64[(unsigned char)alphabet[k]] = (signed char)k;
    return PyModule_Create(&module);
}
