/*
 * ivshmem_pingpong: two boards (or a board and any other peer of the same ivshmem server) exchange
 * sequence-numbered messages through ivshmem-flat shared memory, with one doorbell per message,
 * speaking the protocol of docs/ivshmem-pingpong.md (its section numbers are cited below).
 *
 * Role and count from the semihosting command line (QEMU's -append, or -semihosting-config arg=):
 *   initiator [n=N]   sends N requests (default 1000), one at a time, and times each round trip
 *   responder         answers every request until the initiator leaves
 *   bogus             (either role) once the link is up, ring a peer that does not exist and
 *                     vectors that do not exist: the device must log and ignore them
 *   region=K          (both sides of a pair) this pair's protocol at offset K * 0x2000 of the
 *                     region, so that several pairs share one server (`make soak`: 8 pairs)
 * Receive is interrupt-driven: the doorbell interrupt (and SysTick, 10 Hz, for the heartbeat and a
 * periodic re-check) wakes the main loop from WFI; the loop drains the ring to tx_head. Every
 * payload is checked. A departed peer (cmemu's PEERS_CHANGED event, a LEFT state, a new session)
 * is reported and the survivor waits for a new partner; the server going away is reported once.
 * Needs a peer, so it is not in the qemu-check list (PROGS_PEER in the Makefile).
 */
#include <string.h>
#include "ivshmem.h"
#include "test.h"
#include "board.h"

#ifndef PP_CPU_HZ
#define PP_CPU_HZ BOARD_SYSCLK_HZ   /* SysTick runs from the core clock (CLKSOURCE=1) */
#endif
#define TICK_HZ 10u
#define RVR (PP_CPU_HZ / TICK_HZ - 1u)

#define PP_MB() __asm volatile("dmb" ::: "memory")
#define PP_WMB() PP_MB()
#include "ivshmem_pingpong.h"   /* the layout, shared with the other side */

static uintptr_t shm;
#define W(off) (*(volatile uint32_t *)(shm + (off)))
static void dmb(void) { __asm volatile("dmb" ::: "memory"); }

static int initiator;
static uint32_t my_slot, other_slot, my_ring, other_ring;
static uint32_t my_id, session, count = 1000;
static int link_up;
static uint32_t partner_id, partner_session;
static int server_gone;
static int bogus;   /* command line `bogus`: ring bogus peers/vectors once the link is up */
static uint32_t errors, departures;

static volatile uint32_t ticks, wake, events;

/* ---- time: SysTick at TICK_HZ, cycles = ticks * (RVR + 1) + elapsed in the current period ---- */
void SysTick_Handler(void)
{
    ticks++;
    if (shm && W(my_slot + S_STATE) == PP_READY)
        W(my_slot + S_HEARTBEAT) = W(my_slot + S_HEARTBEAT) + 1u;   /* §7.3 */
    wake = 1;
}

static uint32_t now_cycles(void)
{
    uint32_t pm = get_primask();
    irq_disable();
    uint32_t t = ticks, c = SYST_CVR;
    if (SCB_ICSR & ICSR_PENDSTSET) {   /* wrapped, handler not run yet */
        c = SYST_CVR;
        t++;
    }
    set_primask(pm);
    return t * (RVR + 1u) + (RVR - c);
}

/* ---- round-trip histogram: 16 buckets per octave (~4 %), exact min/max ---- */
#define HBUCKETS (32u * 16u)
static uint32_t hist[HBUCKETS];
static uint32_t rtt_n, rtt_min = ~0u, rtt_max;
static uint64_t rtt_sum;

static unsigned bucket_of(uint32_t v)
{
    if (v < 16u)
        return v;
    unsigned e = 31u - (unsigned)__builtin_clz(v);             /* 4..31 */
    return (e - 3u) * 16u + ((v >> (e - 4u)) & 15u);
}

static uint32_t bucket_mid(unsigned b)
{
    if (b < 16u)
        return b;
    unsigned e = b / 16u + 3u, m = b % 16u;
    uint32_t lo = (1u << e) | (m << (e - 4u));
    return lo + (1u << (e - 4u)) / 2u;
}

static void rtt_record(uint32_t v)
{
    hist[bucket_of(v)]++;
    rtt_n++;
    rtt_sum += v;
    if (v < rtt_min)
        rtt_min = v;
    if (v > rtt_max)
        rtt_max = v;
}

static uint32_t rtt_quantile(unsigned permille)
{
    uint32_t want = (uint32_t)(((uint64_t)rtt_n * permille + 999u) / 1000u), acc = 0;
    if (want == 0)
        want = 1;
    for (unsigned b = 0; b < HBUCKETS; b++) {
        acc += hist[b];
        if (acc >= want) {
            uint32_t v = bucket_mid(b);
            return v < rtt_min ? rtt_min : v > rtt_max ? rtt_max : v;
        }
    }
    return rtt_max;
}

static uint32_t to_us_x10(uint32_t cycles)   /* tenths of a microsecond */
{
    return (uint32_t)((uint64_t)cycles * 10u * 1000000u / PP_CPU_HZ);
}

/* ---- the protocol ---- */

static void ring_other(void)
{
    if (server_gone)
        return;
    ivshmem_int_peer(W(other_slot + S_PEER_ID), (uint16_t)W(other_slot + S_VECTOR));
}

static int other_valid(void)
{
    return W(other_slot + S_MAGIC) == PP_MAGIC && W(other_slot + S_VERSION) == PP_VERSION;
}

/* §5 steps 2-6 */
static void start_session(void)
{
    session = pp_next_session((volatile void *)shm, my_slot, my_id);
    pp_publish_slot((volatile void *)shm, my_slot, my_ring, session, my_id, initiator ? count : 0u);
    dsb();
    link_up = 0;
    kprintf("ivshmem: id %u role %s session 0x%08x\n", my_id, initiator ? "initiator" : "responder", session);
    if (other_valid() && W(other_slot + S_STATE) == PP_READY)
        ring_other();   /* hello */
}

static void send_msg(uint32_t kind)   /* §3 send */
{
    uint32_t seq = W(my_slot + S_TX_HEAD) + 1u;
    if (seq - W(other_slot + S_RX_TAIL) > PP_RING_SLOTS || W(other_slot + S_RX_SESSION) != session) {
        /* cannot happen in ping-pong with the link up: at most one message in flight */
        errors++;
        kprintf("ivshmem: error: ring to peer %u full at seq %u\n", partner_id, seq);
        return;
    }
    pp_write_message((volatile void *)shm, my_slot, my_ring, session, seq, kind);
    ivshmem_int_peer(partner_id, (uint16_t)W(other_slot + S_VECTOR));   /* dsb inside */
}

static void report_error(uint32_t seq, const char *what, uint32_t got, uint32_t want)
{
    errors++;
    if (errors <= 10u)
        kprintf("ivshmem: error: seq %u: %s 0x%08x, expected 0x%08x\n", seq, what, got, want);
}

/* initiator state */
static uint32_t done, inflight_seq, t_sent;
/* responder state: answers in all, and to the current initiator */
static uint32_t answered, answered_session;

static void drain(void)   /* §3 receive, steps 2-5 */
{
    for (;;) {
        uint32_t h = W(other_slot + S_TX_HEAD);
        dmb();
        uint32_t tail = W(my_slot + S_RX_TAIL);
        if (h == tail)
            return;
        while (tail != h) {
            uint32_t seq = tail + 1u;
            uint32_t m = other_ring + ((seq - 1u) % PP_RING_SLOTS) * PP_MSG_SIZE;
            uint32_t want_kind = initiator ? PP_REPLY : PP_REQUEST;
            uint32_t e0 = errors;
            pp_check_message((volatile void *)shm, m, seq, partner_session, want_kind, report_error);
            dmb();
            W(my_slot + S_RX_TAIL) = seq;
            tail = seq;
            if (initiator) {
                if (seq != inflight_seq) {
                    report_error(seq, "reply to", seq, inflight_seq);
                } else {
                    rtt_record(now_cycles() - t_sent);
                    inflight_seq = 0;
                    if (errors == e0)
                        done++;
                    if (done % 1000u == 0)
                        kprintf("ivshmem: %u round trips\n", done);
                }
            } else {
                send_msg(PP_REPLY);
                answered++;
                answered_session++;
            }
        }
    }
}

static void finish(void) __attribute__((noreturn));
static void finish(void)
{
    W(my_slot + S_STATE) = PP_LEFT;   /* §6 */
    dsb();
    ring_other();
    if (initiator && rtt_n) {
        uint32_t med = rtt_quantile(500), p99 = rtt_quantile(990);
        uint32_t mean = (uint32_t)(rtt_sum / rtt_n);
        kprintf("rtt: n=%u min=%u median=%u p99=%u max=%u mean=%u (cycles at %u Hz)\n", rtt_n, rtt_min, med,
                p99, rtt_max, mean, PP_CPU_HZ);
        uint32_t a = to_us_x10(med), b = to_us_x10(p99);
        kprintf("rtt_us: median=%u.%u p99=%u.%u\n", a / 10u, a % 10u, b / 10u, b % 10u);
    }
    kprintf("ivshmem: %s %u messages, %u errors, %u departures\n", initiator ? "completed" : "answered",
            initiator ? done : answered, errors, departures);
    if (errors)
        test_fail("%u errors", errors);
    test_pass();
}

static void departed(const char *why)
{
    departures++;
    kprintf("ivshmem: peer %u left (%s)%s\n", partner_id, why, inflight_seq ? ", 1 request in flight lost" : "");
    inflight_seq = 0;
    link_up = 0;
    start_session();   /* §7: wait for a new partner with a fresh session */
}

/* §5 accept, §7 departure checks */
static void check_partner(uint32_t ev)
{
    if (link_up) {
        int valid = other_valid();
        uint32_t st = W(other_slot + S_STATE);
        if (!valid || st == PP_OFFLINE)
            departed("restarting");
        else if (st == PP_LEFT) {
            if (!initiator) {
                kprintf("ivshmem: peer %u left (done)\n", partner_id);
                uint32_t want = W(other_slot + S_COUNT);
                if (want && answered_session != want)
                    report_error(answered_session, "requests answered", answered_session, want);
                finish();
            }
            departed("left");
        } else if (W(other_slot + S_SESSION) != partner_session)
            departed("new session");
        else if ((ev & IVSHMEM_EV_PEERS_CHANGED) && ivshmem_peer_vectors(partner_id) == 0)
            departed("disconnected");
        if (link_up)
            return;
    }
    if (!other_valid() || W(other_slot + S_STATE) != PP_READY)
        return;
    uint32_t os = W(other_slot + S_SESSION);
    if (W(my_slot + S_RX_SESSION) != os) {
        W(my_slot + S_RX_TAIL) = 0;
        dmb();
        W(my_slot + S_RX_SESSION) = os;
        dsb();
        ring_other();
    }
    if (W(other_slot + S_RX_SESSION) == session) {
        link_up = 1;
        answered_session = 0;
        partner_id = W(other_slot + S_PEER_ID);
        partner_session = os;
        kprintf("ivshmem: link up with peer %u session 0x%08x\n", partner_id, partner_session);
        if (bogus) {   /* must be logged and ignored by the device, and change nothing here */
            bogus = 0;
            ivshmem_int_peer(0xFFFEu, 0);                /* a peer that does not exist */
            ivshmem_int_peer(partner_id, 7);             /* a vector the partner lacks */
            ivshmem_int_peer(my_id, 9);                  /* an own vector that does not exist */
            kprintf("ivshmem: rang 3 bogus doorbells\n");
        }
    }
}

static void on_doorbell(uint16_t vector, void *arg)
{
    (void)vector;
    (void)arg;
    wake = 1;
}

static void on_event(uint32_t ev, void *arg)
{
    (void)arg;
    events |= ev;
    wake = 1;
}

static uint32_t region;

static void parse_cmdline(void)
{
    static char buf[256];
    struct { char *p; uint32_t len; } blk = { buf, sizeof buf - 1u };
    if (sh_call(SYS_GET_CMDLINE, &blk) != 0)
        test_fail("no semihosting command line (run with -semihosting-config enable=on and -append \"initiator\")");
    buf[blk.len < sizeof buf ? blk.len : sizeof buf - 1u] = '\0';
    int role = -1;
    char *w = buf;
    int first = 1;
    while (*w) {
        while (*w == ' ')
            w++;
        char *e = w;
        while (*e && *e != ' ')
            e++;
        char save = *e;
        *e = '\0';
        if (!first && *w) {
            if (!strcmp(w, "initiator"))
                role = 1;
            else if (!strcmp(w, "responder"))
                role = 0;
            else if (!strcmp(w, "bogus"))
                bogus = 1;
            else if (!strncmp(w, "n=", 2)) {
                uint32_t v = 0;
                for (const char *d = w + 2; *d >= '0' && *d <= '9'; d++)
                    v = v * 10u + (uint32_t)(*d - '0');
                count = v;
            } else if (!strncmp(w, "region=", 7)) {
                uint32_t v = 0;
                for (const char *d = w + 7; *d >= '0' && *d <= '9'; d++)
                    v = v * 10u + (uint32_t)(*d - '0');
                region = v;
            } else
                test_fail("unknown argument '%s' (want initiator|responder [n=N] [region=K])", w);
        }
        first = 0;
        *e = save;
        w = e;
    }
    if (role < 0)
        test_fail("no role on the command line (-append \"initiator n=N\" or -append \"responder\")");
    initiator = role;
}

int main(void)
{
    test_start("ivshmem_pingpong");
    parse_cmdline();
    int ext = ivshmem_init();
    size_t size = ivshmem_get_mem(&shm);
    my_id = ivshmem_get_id();
    /* region=K: this pair's protocol lives at K * PP_MIN_SHM in the region (several pairs on one server). */
    CHECK(size >= (region + 1u) * PP_MIN_SHM, "shared memory is %u bytes, need %u for region %u", (uint32_t)size, (region + 1u) * PP_MIN_SHM, region);
    shm += region * PP_MIN_SHM;
    size -= region * PP_MIN_SHM;
    my_slot = initiator ? PP_SLOT_INIT : PP_SLOT_RESP;
    other_slot = initiator ? PP_SLOT_RESP : PP_SLOT_INIT;
    my_ring = initiator ? PP_RING_I2R : PP_RING_R2I;
    other_ring = initiator ? PP_RING_R2I : PP_RING_I2R;
    kprintf("ivshmem: %u bytes at 0x%08x, %u vectors%s\n", (uint32_t)size, (uint32_t)shm, ivshmem_get_vectors(),
            ext ? "" : " (no cmemu extension: departures seen only through the shared memory)");
    CHECK(ivshmem_register_handler(on_doorbell, 0, 0) == 0, "register vector 0");
    ivshmem_register_event_handler(on_event, 0, IVSHMEM_EV_PEERS_CHANGED | IVSHMEM_EV_SERVER_GONE);

    SYST_RVR = RVR;
    SYST_CVR = 0;
    SCB_SHP8(EXC_SYSTICK) = 0xC0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;

    if (initiator)
        kprintf("ivshmem: %u requests to send\n", count);
    start_session();
    for (;;) {
        uint32_t pm = get_primask();
        irq_disable();
        uint32_t ev = events;
        events = 0;
        set_primask(pm);
        if ((ev & IVSHMEM_EV_SERVER_GONE) && !server_gone) {
            server_gone = 1;
            kprintf("ivshmem: server gone, stopping after %u %s\n", initiator ? done : answered,
                    initiator ? "round trips" : "answers");
        }
        if (!server_gone) {
            check_partner(ev);
            if (link_up)
                drain();
            if (initiator && link_up && !inflight_seq) {
                if (done >= count)
                    finish();
                inflight_seq = W(my_slot + S_TX_HEAD) + 1u;
                t_sent = now_cycles();
                send_msg(PP_REQUEST);
            }
            if (!link_up && (ticks & 1u) && other_valid() && W(other_slot + S_STATE) == PP_READY) {
                /* a lost hello (the other side was not READY yet) is repaired by a periodic one */
                static uint32_t last_hello;
                if (ticks != last_hello) {
                    last_hello = ticks;
                    ring_other();
                }
            }
        }
        /* Sleep until a doorbell, an event or a tick; check the ring once more with IRQs off (§3.5). */
        irq_disable();
        while (!wake && !(link_up && !server_gone && W(other_slot + S_TX_HEAD) != W(my_slot + S_RX_TAIL))) {
            wfi();
            irq_enable();
            isb();
            irq_disable();
        }
        wake = 0;
        irq_enable();
    }
}
