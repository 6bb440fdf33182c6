/*
 * The ivshmem ping-pong protocol's shared-memory layout (docs/ivshmem-pingpong.md §2, §4, §8), one
 * definition for both sides: our Cortex-M firmware (firmware/tests/ivshmem_pingpong.c) and the
 * Linux peer program (guest/ivshmem-peer.c). Offsets are bytes; every field is a little-endian
 * 32-bit word.
 */
#ifndef IVSHMEM_PINGPONG_H
#define IVSHMEM_PINGPONG_H
#include <stdint.h>

#define PP_MAGIC      0x50505649u   /* 'IVPP' */
#define PP_VERSION    1u
#define PP_SLOT_INIT  0x0000u       /* the initiator's role slot */
#define PP_SLOT_RESP  0x0040u       /* the responder's role slot */
#define PP_RING_I2R   0x0100u       /* initiator -> responder ring */
#define PP_RING_R2I   0x0900u       /* responder -> initiator ring */
#define PP_RING_SLOTS 64u
#define PP_MSG_SIZE   0x20u
#define PP_MIN_SHM    0x2000u
/* role slot states */
#define PP_OFFLINE    0u
#define PP_READY      1u
#define PP_LEFT       2u
/* message kinds */
#define PP_REQUEST    1u
#define PP_REPLY      2u
/* payload pattern (§4) */
#define PP_PAT_MUL    0x9E3779B1u
#define PP_PAT_IDX    0x85EBCA77u
/* role slot fields */
#define S_MAGIC      0x00u
#define S_VERSION    0x04u
#define S_STATE      0x08u
#define S_PEER_ID    0x0Cu
#define S_VECTOR     0x10u
#define S_SESSION    0x14u
#define S_TX_HEAD    0x18u
#define S_RX_TAIL    0x1Cu
#define S_RX_SESSION 0x20u
#define S_HEARTBEAT  0x24u
#define S_COUNT      0x28u
/* message slot fields */
#define M_SEQ     0x00u
#define M_SESSION 0x04u
#define M_LEN     0x08u
#define M_KIND    0x0Cu
#define M_PAYLOAD 0x10u

/* Payload word i of message `q` sent in session `s` (§4): every payload is checked against it. */
static inline uint32_t pp_pattern(uint32_t s, uint32_t q, unsigned i)
{
    return (q * PP_PAT_MUL + i * PP_PAT_IDX) ^ s;
}

/* Check message `seq` in the ring slot at byte offset `m` of the shared memory at `shm`: its
 * sequence number, the sender's session, length, kind and every payload word (§3, receive step 3).
 * `report(seq, what, got, want)` is called for each mismatch. */
typedef void pp_report_fn(uint32_t seq, const char *what, uint32_t got, uint32_t want);

static inline void pp_check_message(volatile void *shm, uint32_t m, uint32_t seq, uint32_t session,
                                    uint32_t kind, pp_report_fn *report)
{
    volatile uint32_t *w = (volatile uint32_t *)((volatile uint8_t *)shm + m);
    if (w[M_SEQ / 4u] != seq)
        report(seq, "slot seq", w[M_SEQ / 4u], seq);
    if (w[M_SESSION / 4u] != session)
        report(seq, "slot session", w[M_SESSION / 4u], session);
    if (w[M_LEN / 4u] != 16u)
        report(seq, "len", w[M_LEN / 4u], 16u);
    if (w[M_KIND / 4u] != kind)
        report(seq, "kind", w[M_KIND / 4u], kind);
    for (unsigned i = 0; i < 4u; i++) {
        uint32_t want = pp_pattern(session, seq, i);
        if (w[M_PAYLOAD / 4u + i] != want)
            report(seq, "payload word", w[M_PAYLOAD / 4u + i], want);
    }
}

/* The writer's steps (§3 send, §5 start-up). The includer defines the barriers for its
 * architecture first: PP_MB() (full, ordering the slot publication) and PP_WMB() (stores before
 * the TX head). `shm` is the shared memory; slot and ring offsets are the caller's role's. */
#if defined(PP_MB) && defined(PP_WMB)
#define PP_W(shm, off) (*(volatile uint32_t *)((volatile uint8_t *)(shm) + (off)))

/* A new session for `my_id`: the next generation after the one the slot last published. */
static inline uint32_t pp_next_session(volatile void *shm, uint32_t my_slot, uint32_t my_id)
{
    uint32_t gen = (PP_W(shm, my_slot + S_MAGIC) == PP_MAGIC ? PP_W(shm, my_slot + S_SESSION) >> 16 : 0u) + 1u;
    gen &= 0xFFFFu;
    if (gen == 0)
        gen = 1;
    return (gen << 16) | my_id;
}

/* Reset what this side owns (its slot and its sending ring) and publish the slot as READY. */
static inline void pp_publish_slot(volatile void *shm, uint32_t my_slot, uint32_t my_ring, uint32_t session,
                                   uint32_t my_id, uint32_t count)
{
    PP_W(shm, my_slot + S_STATE) = PP_OFFLINE;
    PP_W(shm, my_slot + S_MAGIC) = 0;
    PP_MB();
    for (uint32_t off = 0; off < PP_RING_SLOTS * PP_MSG_SIZE; off += 4u)
        PP_W(shm, my_ring + off) = 0;
    for (uint32_t off = S_TX_HEAD; off < 0x40u; off += 4u)
        PP_W(shm, my_slot + off) = 0;
    PP_W(shm, my_slot + S_COUNT) = count;
    PP_W(shm, my_slot + S_VERSION) = PP_VERSION;
    PP_W(shm, my_slot + S_PEER_ID) = my_id;
    PP_W(shm, my_slot + S_VECTOR) = 0;
    PP_W(shm, my_slot + S_SESSION) = session;
    PP_MB();
    PP_W(shm, my_slot + S_MAGIC) = PP_MAGIC;
    PP_MB();
    PP_W(shm, my_slot + S_STATE) = PP_READY;
}

/* Write message `seq` of `kind` into this side's ring and publish it (TX head). The caller has
 * checked there is room, and rings the peer's doorbell afterwards. */
static inline void pp_write_message(volatile void *shm, uint32_t my_slot, uint32_t my_ring, uint32_t session,
                                    uint32_t seq, uint32_t kind)
{
    uint32_t m = my_ring + ((seq - 1u) % PP_RING_SLOTS) * PP_MSG_SIZE;
    PP_W(shm, m + M_SESSION) = session;
    PP_W(shm, m + M_LEN) = 16u;
    PP_W(shm, m + M_KIND) = kind;
    for (unsigned i = 0; i < 4u; i++)
        PP_W(shm, m + M_PAYLOAD + 4u * i) = pp_pattern(session, seq, i);
    PP_W(shm, m + M_SEQ) = seq;
    PP_WMB();
    PP_W(shm, my_slot + S_TX_HEAD) = seq;
}
#endif

#endif
