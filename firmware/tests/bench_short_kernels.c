/* bench_short's kernels: see bench_short.c. Portable C (fixed-width types only), so that a host
 * build computes the same checksum. Written for this project. */
#include "bench_short.h"

#define NOINLINE __attribute__((noinline))

/* ---- CRC16 (CCITT polynomial 0x1021, bit-wise), one call per byte ---------------------------- */
NOINLINE static uint16_t crc16_byte(uint8_t b, uint16_t crc)
{
    crc ^= (uint16_t)b << 8;
    for (int i = 0; i < 8; i++)
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    return crc;
}

NOINLINE static uint16_t crc16_u16(uint16_t v, uint16_t crc)
{
    crc = crc16_byte((uint8_t)v, crc);
    return crc16_byte((uint8_t)(v >> 8), crc);
}

NOINLINE static uint16_t crc16_u32(uint32_t v, uint16_t crc)
{
    crc = crc16_u16((uint16_t)v, crc);
    return crc16_u16((uint16_t)(v >> 16), crc);
}

/* ---- a small PRNG ------------------------------------------------------------------------- */
static uint32_t seed;
NOINLINE static uint32_t next_rand(void)
{
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
}

/* ---- 1. linked list ------------------------------------------------------------------------ */
#define LIST_N 48
struct node {
    struct node *next;
    int16_t value;
    uint16_t index;
};
static struct node pool[LIST_N];

NOINLINE static struct node *list_build(uint32_t salt)
{
    struct node *head = 0;
    for (int i = LIST_N - 1; i >= 0; i--) {
        pool[i].index = (uint16_t)i;
        pool[i].value = (int16_t)((next_rand() ^ salt) & 0x7FFF);
        pool[i].next = head;
        head = &pool[i];
    }
    return head;
}

NOINLINE static int node_matches(const struct node *n, int16_t value, int use_index, uint16_t index)
{
    return use_index ? n->index == index : n->value == value;
}

NOINLINE static struct node *list_find(struct node *list, int16_t value, int use_index, uint16_t index)
{
    while (list && !node_matches(list, value, use_index, index))
        list = list->next;
    return list;
}

NOINLINE static struct node *list_reverse(struct node *list)
{
    struct node *prev = 0;
    while (list) {
        struct node *next = list->next;
        list->next = prev;
        prev = list;
        list = next;
    }
    return prev;
}

NOINLINE static int cmp_value(const struct node *a, const struct node *b)
{
    return (int)a->value - (int)b->value;
}

NOINLINE static int cmp_index(const struct node *a, const struct node *b)
{
    return (int)a->index - (int)b->index;
}

/* Insertion sort of a singly linked list with a comparison callback (an indirect call). */
NOINLINE static struct node *list_sort(struct node *list, int (*cmp)(const struct node *, const struct node *))
{
    struct node *sorted = 0;
    while (list) {
        struct node *n = list;
        list = list->next;
        if (!sorted || cmp(n, sorted) < 0) {
            n->next = sorted;
            sorted = n;
        } else {
            struct node *p = sorted;
            while (p->next && cmp(n, p->next) >= 0)
                p = p->next;
            n->next = p->next;
            p->next = n;
        }
    }
    return sorted;
}

NOINLINE static uint16_t list_bench(uint32_t it, uint16_t crc)
{
    struct node *list = list_build(it);
    uint32_t found = 0, missed = 0;
    for (uint32_t k = 0; k < 8; k++) {
        struct node *n = list_find(list, 0, 1, (uint16_t)((it * 7u + k * 13u) % (LIST_N + 4)));
        if (n) {
            found += n->value;
        } else {
            missed++;
        }
        n = list_find(list, (int16_t)(next_rand() & 0x7FFF), 0, 0);
        if (!n)
            missed++;
    }
    list = list_reverse(list);
    found += list->index;
    list = list_sort(list, cmp_value);
    for (struct node *p = list; p; p = p->next)
        crc = crc16_u16((uint16_t)p->value, crc);
    list = list_sort(list, cmp_index);
    for (uint32_t k = 0; k < 4; k++) {
        struct node *n = list_find(list, 0, 1, (uint16_t)(k * 11u));
        found += n ? n->index : 0u;
    }
    crc = crc16_u32(found, crc);
    return crc16_u16((uint16_t)missed, crc);
}

/* ---- 2. state machine ------------------------------------------------------------------------ */
#define SM_LEN 160
enum sm_state { S_START, S_INT, S_HEX0, S_HEX, S_DEC, S_WORD, S_SEP, S_BAD, S_COUNT };
static uint8_t sm_buf[SM_LEN];

NOINLINE static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
NOINLINE static int is_hexletter(uint8_t c) { return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
NOINLINE static int is_alpha(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
NOINLINE static int is_sep(uint8_t c) { return c == ',' || c == ' ' || c == ';'; }

NOINLINE static void sm_fill(uint32_t it)
{
    static const char alphabet[] = "0123456789abcdefxXz.,; +-";
    for (int i = 0; i < SM_LEN; i++) {
        uint32_t r = next_rand() ^ it;
        sm_buf[i] = (uint8_t)alphabet[r % (sizeof alphabet - 1)];
    }
}

NOINLINE static enum sm_state sm_step(enum sm_state s, uint8_t c)
{
    switch (s) {
    case S_START:
    case S_SEP:
        if (c == '0') return S_HEX0;
        if (is_digit(c)) return S_INT;
        if (c == '.') return S_DEC;
        if (is_alpha(c)) return S_WORD;
        if (is_sep(c)) return S_SEP;
        return S_BAD;
    case S_INT:
        if (is_digit(c)) return S_INT;
        if (c == '.') return S_DEC;
        if (is_sep(c)) return S_SEP;
        return S_BAD;
    case S_HEX0:
        if (c == 'x' || c == 'X') return S_HEX;
        if (is_digit(c)) return S_INT;
        if (is_sep(c)) return S_SEP;
        return S_BAD;
    case S_HEX:
        if (is_digit(c) || is_hexletter(c)) return S_HEX;
        if (is_sep(c)) return S_SEP;
        return S_BAD;
    case S_DEC:
        if (is_digit(c)) return S_DEC;
        if (is_sep(c)) return S_SEP;
        return S_BAD;
    case S_WORD:
        if (is_alpha(c) || is_digit(c)) return S_WORD;
        if (is_sep(c)) return S_SEP;
        return S_BAD;
    case S_BAD:
    default:
        if (is_sep(c)) return S_SEP;
        return S_BAD;
    }
}

NOINLINE static uint16_t sm_bench(uint32_t it, uint16_t crc)
{
    uint32_t counts[S_COUNT] = {0};
    uint32_t transitions = 0;
    sm_fill(it);
    enum sm_state s = S_START;
    for (int i = 0; i < SM_LEN; i++) {
        enum sm_state n = sm_step(s, sm_buf[i]);
        if (n != s) {
            transitions++;
            counts[n]++;
        }
        s = n;
    }
    /* Corrupt every 7th byte and scan again, as CoreMark's state benchmark does. */
    for (int i = 0; i < SM_LEN; i += 7)
        sm_buf[i] ^= 0x21;
    s = S_START;
    for (int i = 0; i < SM_LEN; i++) {
        s = sm_step(s, sm_buf[i]);
        counts[s]++;
    }
    for (int k = 0; k < S_COUNT; k++)
        crc = crc16_u32(counts[k], crc);
    return crc16_u32(transitions, crc);
}

/* ---- 3. matrix ------------------------------------------------------------------------------ */
#define MAT_N 8
static int16_t mat_a[MAT_N][MAT_N], mat_b[MAT_N][MAT_N];
static int32_t mat_c[MAT_N][MAT_N];

NOINLINE static void mat_fill(uint32_t it)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            mat_a[i][j] = (int16_t)((next_rand() ^ it) & 0xFF) - 128;
            mat_b[i][j] = (int16_t)(next_rand() & 0x3F) - 32;
        }
}

NOINLINE static void mat_add_const(int16_t m[MAT_N][MAT_N], int16_t v)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            m[i][j] = (int16_t)(m[i][j] + v);
}

NOINLINE static void mat_mul_const(int32_t c[MAT_N][MAT_N], int16_t a[MAT_N][MAT_N], int16_t v)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            c[i][j] = (int32_t)a[i][j] * v;
}

NOINLINE static void mat_mul_vec(int32_t c[MAT_N][MAT_N], int16_t a[MAT_N][MAT_N], const int16_t *v)
{
    for (int i = 0; i < MAT_N; i++) {
        int32_t s = 0;
        for (int j = 0; j < MAT_N; j++)
            s += (int32_t)a[i][j] * v[j];
        c[i][0] = s;
    }
}

NOINLINE static void mat_mul(int32_t c[MAT_N][MAT_N], int16_t a[MAT_N][MAT_N], int16_t b[MAT_N][MAT_N])
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t s = 0;
            for (int k = 0; k < MAT_N; k++)
                s += (int32_t)a[i][k] * b[k][j];
            c[i][j] = s;
        }
}

NOINLINE static void mat_mul_bits(int32_t c[MAT_N][MAT_N], int16_t a[MAT_N][MAT_N], int16_t b[MAT_N][MAT_N])
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t s = 0;
            for (int k = 0; k < MAT_N; k++) {
                int32_t t = (int32_t)a[i][k] * b[k][j];
                s += (t >> 2) & 0xF;
                s += (t >> 5) & 0x7F;
            }
            c[i][j] = s;
        }
}

NOINLINE static uint16_t mat_sum(int32_t c[MAT_N][MAT_N], uint16_t crc)
{
    int32_t sum = 0, prev = 0;
    uint32_t ups = 0;
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t v = c[i][j];
            sum += v;
            if (v > prev)
                ups++;
            prev = v;
        }
    crc = crc16_u32((uint32_t)sum, crc);
    return crc16_u16((uint16_t)ups, crc);
}

NOINLINE static uint16_t mat_bench(uint32_t it, uint16_t crc)
{
    mat_fill(it);
    mat_add_const(mat_a, (int16_t)(it & 7));
    mat_mul_const(mat_c, mat_a, 3);
    crc = mat_sum(mat_c, crc);
    mat_mul_vec(mat_c, mat_a, mat_b[0]);
    crc = mat_sum(mat_c, crc);
    mat_mul(mat_c, mat_a, mat_b);
    crc = mat_sum(mat_c, crc);
    mat_mul_bits(mat_c, mat_a, mat_b);
    crc = mat_sum(mat_c, crc);
    mat_add_const(mat_a, (int16_t)-(int16_t)(it & 7));
    return crc;
}

/* ---- the run --------------------------------------------------------------------------------- */
uint16_t bench_short_run(uint32_t iters)
{
    uint16_t crc = 0xFFFF;
    seed = 0x2545F491u;
    for (uint32_t it = 0; it < iters; it++) {
        crc = list_bench(it, crc);
        crc = sm_bench(it, crc);
        crc = mat_bench(it, crc);
    }
    return crc;
}
