/* ivshmem-flat driver: see ivshmem.h. */
#include "ivshmem.h"
#include "nvic.h"

#define MAX_VECTORS 64u

static struct {
    ivshmem_handler_t fn;
    void *arg;
} handlers[MAX_VECTORS];
static ivshmem_event_handler_t ev_fn;
static void *ev_arg;
static int has_ext;

#ifndef IVSHMEM_NO_VTOR_RELOCATE
/* 16 system vectors + up to 64 external interrupts, covering mps2-an385 (32) and lm3s6965 (<64).
 * VTOR needs the table aligned to its size rounded up to a power of two: 80 words -> 512 bytes. */
#define RAM_VECTORS (16u + 64u)
static uint32_t ram_vectors[RAM_VECTORS] __attribute__((aligned(512)));

static void install_handler(void)
{
    const uint32_t *old = (const uint32_t *)SCB_VTOR;
    if (old != ram_vectors) {
        for (unsigned i = 0; i < RAM_VECTORS; i++)
            ram_vectors[i] = old[i];
    }
    ram_vectors[16u + IVSHMEM_IRQ] = (uint32_t)&ivshmem_isr;
    dsb();
    SCB_VTOR = (uint32_t)ram_vectors;
    dsb();
    isb();
}
#endif

int ivshmem_init(void)
{
    nvic_disable(IVSHMEM_IRQ);
    has_ext = IVSHMEM_REG(IVSHMEM_EXTID) == IVSHMEM_EXTID_V1;
    if (has_ext) {
        /* Start clean: nothing masked, no stale status, peer events off until asked for. */
        IVSHMEM_REG(IVSHMEM_EVMASK) = 0;
        IVSHMEM_REG(IVSHMEM_INTRMASK) = 0xFFFFFFFFu;
        IVSHMEM_REG(IVSHMEM_INTRMASK_HI) = 0xFFFFFFFFu;
        IVSHMEM_REG(IVSHMEM_INTRSTATUS) = 0xFFFFFFFFu;
        IVSHMEM_REG(IVSHMEM_INTRSTATUS_HI) = 0xFFFFFFFFu;
        IVSHMEM_REG(IVSHMEM_EVSTATUS) = 0xFFFFFFFFu;
    }
#ifndef IVSHMEM_NO_VTOR_RELOCATE
    install_handler();
#endif
    nvic_unpend(IVSHMEM_IRQ);
    nvic_set_prio(IVSHMEM_IRQ, IVSHMEM_IRQ_PRIO);
    nvic_enable(IVSHMEM_IRQ);
    return has_ext;
}

int ivshmem_has_ext(void)
{
    return has_ext;
}

size_t ivshmem_get_mem(uintptr_t *memmap)
{
    if (memmap)
        *memmap = has_ext ? IVSHMEM_REG(IVSHMEM_SHMADDR) : IVSHMEM_SHMEM_BASE;
    return has_ext ? IVSHMEM_REG(IVSHMEM_SHMSIZE) : IVSHMEM_SHMEM_SIZE;
}

uint32_t ivshmem_get_id(void)
{
    return IVSHMEM_REG(IVSHMEM_IVPOSITION);
}

uint16_t ivshmem_get_vectors(void)
{
    return has_ext ? (uint16_t)IVSHMEM_REG(IVSHMEM_VECTORS) : 1u;
}

int ivshmem_int_peer(uint32_t peer_id, uint16_t vector)
{
    if (peer_id > 0xFFFFu)
        return -22;
    dsb();   /* shared-memory stores before the doorbell (docs/ivshmem-pingpong.md §3) */
    IVSHMEM_REG(IVSHMEM_DOORBELL) = (peer_id << 16) | vector;
    return 0;
}

int ivshmem_register_handler(ivshmem_handler_t fn, void *arg, uint16_t vector)
{
    if (vector >= MAX_VECTORS || vector >= ivshmem_get_vectors())
        return -22;
    uint32_t primask = get_primask();
    irq_disable();
    handlers[vector].fn = fn;
    handlers[vector].arg = arg;
    set_primask(primask);
    return 0;
}

void ivshmem_register_event_handler(ivshmem_event_handler_t fn, void *arg, uint32_t events)
{
    if (!has_ext)
        return;
    uint32_t primask = get_primask();
    irq_disable();
    ev_fn = fn;
    ev_arg = arg;
    IVSHMEM_REG(IVSHMEM_EVMASK) = fn ? events : 0;   /* a pending enabled bit pends the IRQ */
    set_primask(primask);
}

uint32_t ivshmem_peer_vectors(uint32_t peer_id)
{
    if (!has_ext)
        return ~0u;
    uint32_t primask = get_primask();
    irq_disable();   /* PEER_SEL/PEER_VECTORS is a pair */
    IVSHMEM_REG(IVSHMEM_PEER_SEL) = peer_id;
    uint32_t v = IVSHMEM_REG(IVSHMEM_PEER_VECTORS);
    set_primask(primask);
    return v;
}

int ivshmem_server_connected(void)
{
    return has_ext ? (int)(IVSHMEM_REG(IVSHMEM_LINK) & 1u) : 1;
}

static void dispatch(uint32_t bits, unsigned first)
{
    while (bits) {
        unsigned n = (unsigned)__builtin_ctz(bits);
        bits &= bits - 1u;
        if (handlers[first + n].fn)
            handlers[first + n].fn((uint16_t)(first + n), handlers[first + n].arg);
    }
}

void ivshmem_isr(void)
{
    if (!has_ext) {   /* QEMU: no status to read; the pulse means vector 0 */
        dispatch(1u, 0);
        return;
    }
    /* Acknowledge exactly what we saw, then handle it: a doorbell after the read pends again. */
    uint32_t lo = IVSHMEM_REG(IVSHMEM_INTRSTATUS);
    if (lo)
        IVSHMEM_REG(IVSHMEM_INTRSTATUS) = lo;
    uint32_t hi = IVSHMEM_REG(IVSHMEM_INTRSTATUS_HI);
    if (hi)
        IVSHMEM_REG(IVSHMEM_INTRSTATUS_HI) = hi;
    uint32_t ev = IVSHMEM_REG(IVSHMEM_EVSTATUS) & IVSHMEM_REG(IVSHMEM_EVMASK);
    if (ev)
        IVSHMEM_REG(IVSHMEM_EVSTATUS) = ev;
    dispatch(lo & IVSHMEM_REG(IVSHMEM_INTRMASK), 0);
    dispatch(hi & IVSHMEM_REG(IVSHMEM_INTRMASK_HI), 32);
    if (ev && ev_fn)
        ev_fn(ev, ev_arg);
}
