/*
 * ivshmem-flat driver (QEMU hw/misc/ivshmem-flat.c; cmemu src/devices/ivshmem-flat.ts), with the
 * names of Zephyr's ivshmem API (drivers/virtualization/ivshmem.h). One device, no `dev` argument;
 * handlers are plain callbacks run in the interrupt (Zephyr raises a k_poll_signal instead).
 *
 * Board-neutral: the addresses and the NVIC line come from the defines below (the defaults are
 * where cmemu and the ivshmem-flat v3 series put the device on mps2-an385 and lm3s6965evb); a
 * board or program overrides them with -D. The handler is installed by copying the vector table
 * to RAM (VTOR), so this file needs no board-specific handler name; define
 * IVSHMEM_NO_VTOR_RELOCATE to call ivshmem_isr() from your own handler instead.
 *
 * On QEMU's device only 0x0-0xF exist: INTRMASK/INTRSTATUS read 0, and there is no way to learn
 * the vector count, the region size or the peers. The driver checks EXTID (cmemu's extension
 * block) and falls back: 1 vector, IVSHMEM_SHMEM_SIZE bytes, every interrupt = vector 0.
 */
#ifndef IVSHMEM_H
#define IVSHMEM_H
#include <stddef.h>
#include <stdint.h>

#ifndef IVSHMEM_REGS_BASE
#define IVSHMEM_REGS_BASE 0x400FF000u   /* x-bus-address-iomem */
#endif
#ifndef IVSHMEM_SHMEM_BASE
#define IVSHMEM_SHMEM_BASE 0x40100000u  /* x-bus-address-shmem */
#endif
#ifndef IVSHMEM_SHMEM_SIZE
#define IVSHMEM_SHMEM_SIZE 0x400000u    /* assumed when the device cannot say (QEMU) */
#endif
#ifndef IVSHMEM_IRQ
#define IVSHMEM_IRQ 0u                  /* NVIC input (x-irq-qompath ...gpio-in[0]) */
#endif
#ifndef IVSHMEM_IRQ_PRIO
#define IVSHMEM_IRQ_PRIO 0x80u
#endif

/* Registers (offsets from IVSHMEM_REGS_BASE) */
#define IVSHMEM_INTRMASK      0x00u
#define IVSHMEM_INTRSTATUS    0x04u
#define IVSHMEM_IVPOSITION    0x08u
#define IVSHMEM_DOORBELL      0x0Cu
/* cmemu extensions (valid only when EXTID reads IVSHMEM_EXTID_V1) */
#define IVSHMEM_EXTID         0x10u
#define IVSHMEM_VECTORS       0x14u
#define IVSHMEM_SHMSIZE       0x18u
#define IVSHMEM_SHMADDR       0x1Cu
#define IVSHMEM_INTRSTATUS_HI 0x20u
#define IVSHMEM_INTRMASK_HI   0x24u
#define IVSHMEM_EVSTATUS      0x28u
#define IVSHMEM_EVMASK        0x2Cu
#define IVSHMEM_PEER_SEL      0x30u
#define IVSHMEM_PEER_VECTORS  0x34u
#define IVSHMEM_PEER_NEXT     0x38u
#define IVSHMEM_LINK          0x3Cu
#define IVSHMEM_EXTID_V1      0x49565331u   /* 'IVS1' */
#define IVSHMEM_EV_PEERS_CHANGED (1u << 0)
#define IVSHMEM_EV_SERVER_GONE   (1u << 1)
#define IVSHMEM_EV_SHM_LOST      (1u << 2) /* the shm object was truncated: past its end, private zero pages */

#define IVSHMEM_REG(off) (*(volatile uint32_t *)(IVSHMEM_REGS_BASE + (off)))

typedef void (*ivshmem_handler_t)(uint16_t vector, void *arg);
/* Peer/server events (IVSHMEM_EV_*), cmemu only. */
typedef void (*ivshmem_event_handler_t)(uint32_t events, void *arg);

/* Probe the device, clear stale status, install the interrupt handler and enable the NVIC
 * line. Returns 1 when cmemu's extension block is present, 0 on a QEMU-only device. */
int ivshmem_init(void);
int ivshmem_has_ext(void);

/* Zephyr names */
size_t ivshmem_get_mem(uintptr_t *memmap);       /* *memmap = base; returns the size */
uint32_t ivshmem_get_id(void);                   /* IVPOSITION */
uint16_t ivshmem_get_vectors(void);
/* Ring `peer_id`'s `vector` (after a dsb, so earlier shared-memory stores are visible first).
 * -22 (-EINVAL) for a vector > 0xFFFF or an id > 0xFFFF; 0 otherwise (the device ignores
 * doorbells to peers that do not exist, as the spec says). */
int ivshmem_int_peer(uint32_t peer_id, uint16_t vector);
/* Call `fn(vector, arg)` from the interrupt each time own `vector` fires (coalesced: one call
 * may stand for several doorbells). NULL unregisters. -22 for a vector this device lacks. */
int ivshmem_register_handler(ivshmem_handler_t fn, void *arg, uint16_t vector);

/* cmemu extensions */
void ivshmem_register_event_handler(ivshmem_event_handler_t fn, void *arg, uint32_t events);
uint32_t ivshmem_peer_vectors(uint32_t peer_id);  /* 0: not connected (or no extension: ~0u) */
int ivshmem_server_connected(void);               /* 1, or 0 once the server has gone */

/* The interrupt handler (installed by ivshmem_init unless IVSHMEM_NO_VTOR_RELOCATE). */
void ivshmem_isr(void);

#endif
