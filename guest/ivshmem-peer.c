/*
 * ivshmem-peer: the Linux side of cmemu's ivshmem ping-pong, run as a static aarch64 program in a
 * QEMU `-M virt,iommu=smmuv3,gic-version=3` VM with `-device ivshmem-doorbell` (PCI 1af4:1110).
 *
 * Plumbing (docs/linux-peer.md): find the device in sysfs, bind it to vfio-pci (driver_override),
 * open its IOMMU group through a type-1 container, map BAR2 (shared memory) and BAR0 (registers;
 * pread/pwrite on the region when it cannot be mapped), set Bus Master in the PCI command register
 * (vfio-pci leaves it off, and QEMU drops the MSI-X writes of a device that is not a bus master),
 * give every MSI-X vector its own eventfd with VFIO_DEVICE_SET_IRQS, check each vector by ringing
 * ourselves, read IVPOSITION. Receiving is interrupt-driven: the program blocks in poll() on the
 * vector 0 eventfd and drains the ring only after it fired; the only other wake-up is the 100 ms
 * heartbeat timeout of the protocol (§7.3), which never consumes messages unless one has waited
 * 1 s without its interrupt (then an "ERROR no interrupt" line, and the message is counted).
 *
 * Protocol: docs/ivshmem-pingpong.md, version 1 (section numbers cited below), both roles:
 *   ivshmem-peer initiator [n=N] [timeout=S]   N requests (default 1000), round trips timed
 *   ivshmem-peer responder [timeout=S]         answers until the initiator leaves
 * timeout=S: give up after S seconds (default 0: never). x-no-busmaster (for tests of the
 * diagnostics): leave Bus Master off, so that no MSI-X interrupt can arrive. Console lines for scripts start with
 * "IVPEER " (READY, LINK, PROGRESS, PEER-LEFT, RESULT, PASS, FAIL, ERROR; see below).
 * Exit status: 0 pass, 1 protocol errors or lost messages, 2 set-up failure, 3 timeout.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PP_MB() __asm__ volatile("dmb osh" ::: "memory")
#define PP_WMB() __asm__ volatile("dmb oshst" ::: "memory")
#include "ivshmem_pingpong.h"   /* the layout, shared with the other side */

/* ivshmem registers (BAR0) */
#define R_INTRMASK 0x0u
#define R_INTRSTATUS 0x4u
#define R_IVPOSITION 0x8u
#define R_DOORBELL 0xCu

#define HEARTBEAT_NS 100000000ull     /* §7.3: at least every 100 ms */
#define DEPART_NS 2000000000ull       /* §7.3: partner heartbeat unchanged for 2 s */
#define HELLO_NS 200000000ull         /* repeat the hello while the link is down */
#define STALL_NS 1000000000ull        /* a message pending this long without an interrupt: error */
#define SELFTEST_MS 2000
#define MAX_VECTORS 64

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_SETUP 2
#define EXIT_TIMEOUT 3

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("IVPEER ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("IVPEER ERROR ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
    exit(code);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- sysfs ---- */
static int read_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return 0;
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

/* The first PCI function 1af4:1110 (ivshmem). */
static int find_device(char *bdf, size_t len)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    if (!d)
        return -1;
    struct dirent *e;
    int found = -1;
    char best[64] = "";
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[PATH_MAX], v[32], dv[32];
        snprintf(p, sizeof p, "/sys/bus/pci/devices/%s/vendor", e->d_name);
        if (read_text(p, v, sizeof v))
            continue;
        snprintf(p, sizeof p, "/sys/bus/pci/devices/%s/device", e->d_name);
        if (read_text(p, dv, sizeof dv))
            continue;
        if (strtoul(v, 0, 16) == 0x1af4 && strtoul(dv, 0, 16) == 0x1110) {
            if (!best[0] || strcmp(e->d_name, best) < 0)
                snprintf(best, sizeof best, "%s", e->d_name);
            found = 0;
        }
    }
    closedir(d);
    if (!found)
        snprintf(bdf, len, "%s", best);
    return found;
}

static int current_driver(const char *bdf, char *name, size_t len)
{
    char p[PATH_MAX], t[PATH_MAX];
    snprintf(p, sizeof p, "/sys/bus/pci/devices/%s/driver", bdf);
    ssize_t n = readlink(p, t, sizeof t - 1);
    if (n < 0)
        return -1;
    t[n] = '\0';
    const char *b = strrchr(t, '/');
    snprintf(name, len, "%s", b ? b + 1 : t);
    return 0;
}

static void bind_vfio(const char *bdf)
{
    char drv[64], p[PATH_MAX];
    if (current_driver(bdf, drv, sizeof drv) == 0) {
        if (!strcmp(drv, "vfio-pci"))
            return;
        snprintf(p, sizeof p, "/sys/bus/pci/devices/%s/driver/unbind", bdf);
        write_text(p, bdf);
    }
    snprintf(p, sizeof p, "/sys/bus/pci/devices/%s/driver_override", bdf);
    int e = write_text(p, "vfio-pci");
    if (e)
        die(EXIT_SETUP, "vfio bind: cannot write %s: %s", p, strerror(-e));
    e = write_text("/sys/bus/pci/drivers_probe", bdf);
    if (current_driver(bdf, drv, sizeof drv) != 0 || strcmp(drv, "vfio-pci"))
        die(EXIT_SETUP, "vfio bind: %s is not bound to vfio-pci after drivers_probe (%s; is the vfio-pci module loaded?)",
            bdf, e ? strerror(-e) : "no error");
}

/* ---- vfio ---- */
struct region {
    uint64_t offset, size;
    uint32_t flags;
    volatile uint8_t *map; /* NULL: use pread/pwrite on the device fd */
};

static int dev_fd = -1;
static struct region bar0, bar2, cfg;

static void region_info(unsigned index, struct region *r, const char *what)
{
    struct vfio_region_info ri = { .argsz = sizeof ri, .index = index };
    if (ioctl(dev_fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
        die(EXIT_SETUP, "vfio: VFIO_DEVICE_GET_REGION_INFO %s: %s", what, strerror(errno));
    r->offset = ri.offset;
    r->size = ri.size;
    r->flags = ri.flags;
    r->map = NULL;
}

static void region_map(struct region *r, const char *what, int required)
{
    if (!(r->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
        if (required)
            die(EXIT_SETUP, "vfio: %s cannot be mmapped (flags 0x%x)", what, r->flags);
        return;
    }
    void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, dev_fd, (off_t)r->offset);
    if (p == MAP_FAILED) {
        if (required)
            die(EXIT_SETUP, "vfio: mmap %s (%" PRIu64 " bytes): %s", what, r->size, strerror(errno));
        return;
    }
    r->map = p;
}

static uint32_t reg_read(uint32_t off)
{
    if (bar0.map)
        return *(volatile uint32_t *)(bar0.map + off);
    uint32_t v = 0;
    if (pread(dev_fd, &v, 4, (off_t)(bar0.offset + off)) != 4)
        die(EXIT_SETUP, "BAR0 read at 0x%x: %s", off, strerror(errno));
    return v;
}

static void reg_write(uint32_t off, uint32_t v)
{
    if (bar0.map) {
        *(volatile uint32_t *)(bar0.map + off) = v;
        return;
    }
    if (pwrite(dev_fd, &v, 4, (off_t)(bar0.offset + off)) != 4)
        die(EXIT_SETUP, "BAR0 write at 0x%x: %s", off, strerror(errno));
}

static uint16_t cfg_read16(uint32_t off)
{
    uint16_t v = 0;
    if (pread(dev_fd, &v, 2, (off_t)(cfg.offset + off)) != 2)
        die(EXIT_SETUP, "vfio: config read at 0x%x: %s", off, strerror(errno));
    return v;
}

static void cfg_write16(uint32_t off, uint16_t v)
{
    if (pwrite(dev_fd, &v, 2, (off_t)(cfg.offset + off)) != 2)
        die(EXIT_SETUP, "vfio: config write at 0x%x: %s", off, strerror(errno));
}

static int nvec;
static int efd[MAX_VECTORS];
static int no_busmaster; /* x-no-busmaster: leave Bus Master off, to see the "no interrupt" diagnostic */

static void open_vfio(const char *bdf)
{
    char p[PATH_MAX], t[PATH_MAX];
    snprintf(p, sizeof p, "/sys/bus/pci/devices/%s/iommu_group", bdf);
    ssize_t n = readlink(p, t, sizeof t - 1);
    if (n < 0)
        die(EXIT_SETUP, "vfio: %s has no IOMMU group (the VM needs -M virt,iommu=smmuv3)", bdf);
    t[n] = '\0';
    const char *group_name = strrchr(t, '/') ? strrchr(t, '/') + 1 : t;

    int container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (container < 0)
        die(EXIT_SETUP, "vfio: open /dev/vfio/vfio: %s (vfio module not loaded?)", strerror(errno));
    if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
        die(EXIT_SETUP, "vfio: unknown API version");
    if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0)
        die(EXIT_SETUP, "vfio: no type-1 IOMMU support (vfio_iommu_type1 module not loaded?)");
    snprintf(p, sizeof p, "/dev/vfio/%s", group_name);
    int group = open(p, O_RDWR | O_CLOEXEC);
    if (group < 0)
        die(EXIT_SETUP, "vfio: open %s: %s", p, strerror(errno));
    struct vfio_group_status st = { .argsz = sizeof st };
    if (ioctl(group, VFIO_GROUP_GET_STATUS, &st) || !(st.flags & VFIO_GROUP_FLAGS_VIABLE))
        die(EXIT_SETUP, "vfio: IOMMU group %s is not viable (another device of the group is bound to a host driver)", group_name);
    if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
        die(EXIT_SETUP, "vfio: VFIO_GROUP_SET_CONTAINER: %s", strerror(errno));
    if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU))
        die(EXIT_SETUP, "vfio: VFIO_SET_IOMMU type1: %s", strerror(errno));
    dev_fd = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
    if (dev_fd < 0)
        die(EXIT_SETUP, "vfio: VFIO_GROUP_GET_DEVICE_FD %s: %s", bdf, strerror(errno));

    region_info(VFIO_PCI_CONFIG_REGION_INDEX, &cfg, "config space");
    region_info(VFIO_PCI_BAR0_REGION_INDEX, &bar0, "BAR0");
    region_info(VFIO_PCI_BAR2_REGION_INDEX, &bar2, "BAR2");
    if (bar0.size < 16)
        die(EXIT_SETUP, "vfio: BAR0 is %" PRIu64 " bytes, not ivshmem's registers", bar0.size);
    if (bar2.size < PP_MIN_SHM)
        die(EXIT_SETUP, "vfio: BAR2 (shared memory) is %" PRIu64 " bytes, the protocol needs %u", bar2.size, PP_MIN_SHM);
    region_map(&bar2, "BAR2", 1);
    region_map(&bar0, "BAR0", 0);

    /* MSI-X: one eventfd per vector. */
    struct vfio_irq_info ii = { .argsz = sizeof ii, .index = VFIO_PCI_MSIX_IRQ_INDEX };
    if (ioctl(dev_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) || ii.count == 0)
        die(EXIT_SETUP, "vfio: the device has no MSI-X vectors (ivshmem-doorbell, not ivshmem-plain, with vectors=N)");
    nvec = ii.count > MAX_VECTORS ? MAX_VECTORS : (int)ii.count;
    size_t sz = sizeof(struct vfio_irq_set) + (size_t)nvec * sizeof(int32_t);
    struct vfio_irq_set *set = calloc(1, sz);
    set->argsz = (uint32_t)sz;
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = VFIO_PCI_MSIX_IRQ_INDEX;
    set->start = 0;
    set->count = (uint32_t)nvec;
    for (int v = 0; v < nvec; v++) {
        efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd[v] < 0)
            die(EXIT_SETUP, "eventfd: %s", strerror(errno));
        ((int32_t *)set->data)[v] = efd[v];
    }
    if (ioctl(dev_fd, VFIO_DEVICE_SET_IRQS, set))
        die(EXIT_SETUP, "vfio: VFIO_DEVICE_SET_IRQS MSI-X x%d: %s", nvec, strerror(errno));
    free(set);

    /* Bus Master: vfio-pci does not set it, and QEMU drops MSI-X writes from a non-master. */
    uint16_t cmd = cfg_read16(PCI_COMMAND);
    if (!no_busmaster)
        cfg_write16(PCI_COMMAND, (uint16_t)(cmd | PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY));
    cmd = cfg_read16(PCI_COMMAND);
    if (!(cmd & PCI_COMMAND_MASTER) && !no_busmaster)
        die(EXIT_SETUP, "vfio: could not set Bus Master (PCI command 0x%04x)", cmd);

    /* Guest-physical addresses of the BARs, for the record (sysfs "resource": start end flags). */
    unsigned long long start[3] = { 0, 0, 0 };
    snprintf(p, sizeof p, "/sys/bus/pci/devices/%s/resource", bdf);
    FILE *rf = fopen(p, "r");
    if (rf) {
        for (int i = 0; i < 3; i++) {
            unsigned long long e, f;
            if (fscanf(rf, "%llx %llx %llx", &start[i], &e, &f) != 3)
                break;
        }
        fclose(rf);
    }
    say("VFIO bdf=%s group=%s bar0=0x%llx+%" PRIu64 "%s bar1(msix)=0x%llx bar2=0x%llx+%" PRIu64 " msix=%d pci_command=0x%04x",
        bdf, group_name, start[0], bar0.size, bar0.map ? "(mmap)" : "(pread/pwrite)", start[1], start[2], bar2.size, nvec, cmd);
}

/* Consume an eventfd: 1 if it had fired. */
static int ack(int fd)
{
    uint64_t c;
    return read(fd, &c, sizeof c) == (ssize_t)sizeof c;
}

/* Ring ourselves on every vector and block on that vector's eventfd: proves the MSI-X path
 * (DOORBELL -> server eventfd -> QEMU -> MSI-X through the SMMU and ITS -> vfio -> eventfd). */
static void irq_selftest(uint32_t id)
{
    uint64_t worst = 0;
    for (int v = 0; v < nvec; v++) {
        ack(efd[v]);
        uint64_t t0 = now_ns();
        __asm__ volatile("dsb st" ::: "memory");
        reg_write(R_DOORBELL, (id << 16) | (uint32_t)v);
        struct pollfd p = { .fd = efd[v], .events = POLLIN };
        int r = poll(&p, 1, SELFTEST_MS);
        uint64_t dt = now_ns() - t0;
        if (r <= 0 || !ack(efd[v]))
            die(EXIT_SETUP, "no interrupt: a doorbell to ourselves (id %u vector %d) did not reach the eventfd within %d ms "
                "(MSI-X: Bus Master, SMMUv3, GICv3 ITS?)", id, v, SELFTEST_MS);
        if (dt > worst)
            worst = dt;
    }
    say("IRQ-SELFTEST ok vectors=%d worst_us=%" PRIu64, nvec, worst / 1000);
}

/* ---- shared memory and the protocol ---- */
static volatile uint8_t *shm;
#define W(off) (*(volatile uint32_t *)(shm + (off)))
/* BAR2 is mapped as Device memory by vfio (non-cacheable): full-system barriers are simplest. */
static inline void wmb_(void) { __asm__ volatile("dmb oshst" ::: "memory"); }
static inline void rmb_(void) { __asm__ volatile("dmb oshld" ::: "memory"); }
static inline void mb_(void) { __asm__ volatile("dmb osh" ::: "memory"); }
static inline void dsb_(void) { __asm__ volatile("dsb st" ::: "memory"); }

static int initiator = -1;
static uint32_t count = 1000, timeout_s;
static uint32_t my_slot, other_slot, my_ring, other_ring;
static uint32_t my_id, session;
static int link_up;
static uint32_t partner_id, partner_session;
static uint32_t errors, departures;
static uint32_t last_other_hb;
static uint64_t last_other_hb_change;
static int woke_by_irq;              /* the current pass of the loop follows an eventfd wake-up */
static uint64_t irq_wakes, timer_wakes, found_after_timer;
static uint64_t pending_since;       /* a heartbeat wake-up saw a message without its interrupt */
static unsigned stall_reported;


static void ring_peer(uint32_t id, uint32_t vector)
{
    dsb_();
    reg_write(R_DOORBELL, ((id & 0xFFFFu) << 16) | (vector & 0xFFFFu));
}

static void ring_other(void) { ring_peer(W(other_slot + S_PEER_ID), W(other_slot + S_VECTOR)); }

static int other_valid(void) { return W(other_slot + S_MAGIC) == PP_MAGIC && W(other_slot + S_VERSION) == PP_VERSION; }

static void start_session(void) /* §5 steps 2-6 */
{
    session = pp_next_session(shm, my_slot, my_id);
    pp_publish_slot(shm, my_slot, my_ring, session, my_id, initiator ? count : 0u);
    dsb_();
    link_up = 0;
    say("READY id=%u role=%s session=0x%08x shm=%" PRIu64 " vectors=%d", my_id, initiator ? "initiator" : "responder",
        session, bar2.size, nvec);
    if (other_valid() && W(other_slot + S_STATE) == PP_READY)
        ring_other(); /* hello */
}

/* initiator */
static uint32_t done, sent, inflight_seq;
static uint64_t t_sent;
static uint32_t *rtt;   /* ns, one per completed round trip (capped at rtt_cap) */
static uint32_t rtt_n, rtt_cap;
/* responder */
static uint32_t answered, received;

static void report_error(uint32_t seq, const char *what, uint32_t got, uint32_t want)
{
    errors++;
    if (errors <= 10u)
        say("ERROR message seq %u: %s 0x%08x, expected 0x%08x", seq, what, got, want);
}

static void send_msg(uint32_t kind) /* §3 send */
{
    uint32_t seq = W(my_slot + S_TX_HEAD) + 1u;
    if (seq - W(other_slot + S_RX_TAIL) > PP_RING_SLOTS || W(other_slot + S_RX_SESSION) != session) {
        errors++;
        say("ERROR ring to peer %u full at seq %u", partner_id, seq);
        return;
    }
    pp_write_message(shm, my_slot, my_ring, session, seq, kind);
    ring_peer(partner_id, W(other_slot + S_VECTOR));
}

static void drain(void) /* §3 receive, steps 2-5 */
{
    for (;;) {
        uint32_t h = W(other_slot + S_TX_HEAD);
        rmb_();
        uint32_t tail = W(my_slot + S_RX_TAIL);
        if (h == tail)
            return;
        while (tail != h) {
            uint32_t seq = tail + 1u;
            if (!woke_by_irq)
                found_after_timer++; /* found after a heartbeat timeout, not an interrupt */
            uint32_t m = other_ring + ((seq - 1u) % PP_RING_SLOTS) * PP_MSG_SIZE;
            uint32_t want_kind = initiator ? PP_REPLY : PP_REQUEST;
            uint32_t e0 = errors;
            pp_check_message(shm, m, seq, partner_session, want_kind, report_error);
            mb_();
            W(my_slot + S_RX_TAIL) = seq;
            tail = seq;
            if (initiator) {
                if (seq != inflight_seq) {
                    report_error(seq, "reply to", seq, inflight_seq);
                } else {
                    uint64_t dt = now_ns() - t_sent;
                    if (rtt_n < rtt_cap)
                        rtt[rtt_n++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
                    inflight_seq = 0;
                    if (errors == e0)
                        done++;
                    if (done % 1000u == 0)
                        say("PROGRESS round_trips=%u", done);
                }
            } else {
                received++;
                send_msg(PP_REPLY);
                answered++;
            }
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void finish(int code_hint) __attribute__((noreturn));
static void finish(int code_hint)
{
    W(my_slot + S_STATE) = PP_LEFT; /* §6 */
    dsb_();
    if (other_valid())
        ring_other();
    uint32_t lost, corrupted = errors;
    if (initiator) {
        lost = count > done ? count - done : 0;
        char figures[256] = "";
        if (rtt_n) {
            qsort(rtt, rtt_n, sizeof *rtt, cmp_u32);
            uint64_t sum = 0;
            for (uint32_t i = 0; i < rtt_n; i++)
                sum += rtt[i];
            uint32_t p99 = rtt[(uint32_t)(((uint64_t)rtt_n * 99u + 99u) / 100u) - 1u];
            snprintf(figures, sizeof figures, " rtt_us min=%.1f median=%.1f p99=%.1f max=%.1f mean=%.1f", rtt[0] / 1e3,
                     rtt[rtt_n / 2] / 1e3, p99 / 1e3, rtt[rtt_n - 1] / 1e3, (double)sum / rtt_n / 1e3);
        }
        say("RESULT role=initiator id=%u peer=%u requests=%u replies=%u lost=%u corrupted=%u departures=%u%s "
            "irq_wakes=%" PRIu64 " timer_wakes=%" PRIu64 " after_timer=%" PRIu64,
            my_id, partner_id, sent, done, lost, corrupted, departures, figures, irq_wakes, timer_wakes, found_after_timer);
    } else {
        uint32_t want = partner_session ? W(other_slot + S_COUNT) : 0u; /* a stale slot's count means nothing */
        lost = want && answered < want ? want - answered : 0;
        say("RESULT role=responder id=%u peer=%u requests=%u replies=%u expected=%u lost=%u corrupted=%u departures=%u "
            "irq_wakes=%" PRIu64 " timer_wakes=%" PRIu64 " after_timer=%" PRIu64,
            my_id, partner_id, received, answered, want, lost, corrupted, departures, irq_wakes, timer_wakes,
            found_after_timer);
    }
    int code = code_hint;
    if (code == EXIT_PASS && (errors || lost))
        code = EXIT_FAIL;
    if (code == EXIT_PASS)
        say("PASS");
    else
        say("FAIL %s", code == EXIT_TIMEOUT ? "timeout" : errors ? "corrupted messages" : "lost messages");
    exit(code);
}

static void departed(const char *why) /* §7 */
{
    departures++;
    say("PEER-LEFT peer=%u why=%s%s", partner_id, why, inflight_seq ? " inflight=1" : "");
    inflight_seq = 0;
    link_up = 0;
    start_session();
}

static void check_partner(uint64_t now) /* §5 accept, §7 departure checks */
{
    if (link_up) {
        int valid = other_valid();
        uint32_t st = W(other_slot + S_STATE);
        uint32_t hb = W(other_slot + S_HEARTBEAT);
        if (hb != last_other_hb) {
            last_other_hb = hb;
            last_other_hb_change = now;
        }
        if (!valid || st == PP_OFFLINE)
            departed("restarting");
        else if (st == PP_LEFT) {
            if (!initiator) {
                say("PEER-DONE peer=%u", partner_id);
                finish(EXIT_PASS);
            }
            departed("left");
        } else if (W(other_slot + S_SESSION) != partner_session)
            departed("new-session");
        else if (now - last_other_hb_change > DEPART_NS)
            departed("heartbeat-stopped");
        if (link_up)
            return;
    }
    if (!other_valid() || W(other_slot + S_STATE) != PP_READY)
        return;
    uint32_t os = W(other_slot + S_SESSION);
    if (W(my_slot + S_RX_SESSION) != os) {
        W(my_slot + S_RX_TAIL) = 0;
        mb_();
        W(my_slot + S_RX_SESSION) = os;
        dsb_();
        ring_other();
    }
    if (W(other_slot + S_RX_SESSION) == session) {
        link_up = 1;
        partner_id = W(other_slot + S_PEER_ID);
        partner_session = os;
        last_other_hb = W(other_slot + S_HEARTBEAT);
        last_other_hb_change = now;
        say("LINK peer=%u session=0x%08x", partner_id, partner_session);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: ivshmem-peer initiator|responder [n=N] [timeout=SECONDS]\n");
    exit(EXIT_SETUP);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "initiator"))
            initiator = 1;
        else if (!strcmp(argv[i], "responder"))
            initiator = 0;
        else if (!strncmp(argv[i], "n=", 2))
            count = (uint32_t)strtoul(argv[i] + 2, 0, 10);
        else if (!strcmp(argv[i], "x-no-busmaster"))
            no_busmaster = 1;
        else if (!strncmp(argv[i], "timeout=", 8))
            timeout_s = (uint32_t)strtoul(argv[i] + 8, 0, 10);
        else {
            say("ERROR unknown argument '%s'", argv[i]);
            usage();
        }
    }
    if (initiator < 0) {
        say("ERROR no role (initiator or responder)");
        usage();
    }
    if (initiator && count == 0) {
        say("ERROR n=0: the initiator needs a number of requests");
        usage();
    }

    char bdf[64];
    if (find_device(bdf, sizeof bdf))
        die(EXIT_SETUP, "device not found: no PCI 1af4:1110 (ivshmem) in /sys/bus/pci/devices");
    say("DEVICE bdf=%s", bdf);
    bind_vfio(bdf);
    open_vfio(bdf);
    shm = bar2.map;
    my_id = reg_read(R_IVPOSITION);
    if (my_id > 0xFFFFu)
        die(EXIT_SETUP, "IVPOSITION reads 0x%08x: the device is not connected to an ivshmem server", my_id);
    irq_selftest(my_id);

    my_slot = initiator ? PP_SLOT_INIT : PP_SLOT_RESP;
    other_slot = initiator ? PP_SLOT_RESP : PP_SLOT_INIT;
    my_ring = initiator ? PP_RING_I2R : PP_RING_R2I;
    other_ring = initiator ? PP_RING_R2I : PP_RING_I2R;
    if (initiator) {
        rtt_cap = count;
        rtt = malloc((size_t)rtt_cap * sizeof *rtt);
        if (!rtt)
            die(EXIT_SETUP, "out of memory for %u round-trip times", count);
    }

    uint64_t t0 = now_ns(), deadline = timeout_s ? t0 + (uint64_t)timeout_s * 1000000000ull : 0;
    uint64_t next_hb = t0 + HEARTBEAT_NS, last_hello = 0;
    start_session();
    woke_by_irq = 1; /* the start-up drain is not a missed interrupt */
    for (;;) {
        uint64_t now = now_ns();
        if (deadline && now >= deadline) {
            say("ERROR timeout after %u s (%s)", timeout_s,
                link_up ? "link up, exchange not finished"
                        : departures ? "no partner: the partner left and no other came" : "no partner: link never came up");
            finish(EXIT_TIMEOUT);
        }
        if (now >= next_hb) { /* §7.3 */
            if (W(my_slot + S_STATE) == PP_READY)
                W(my_slot + S_HEARTBEAT) = W(my_slot + S_HEARTBEAT) + 1u;
            next_hb = now + HEARTBEAT_NS;
        }
        check_partner(now);
        /* Messages are consumed after an interrupt only (and at start-up). A heartbeat wake-up
         * finding one pending means its doorbell is late or lost: after STALL_NS of that, say so
         * and drain anyway (counted in after_timer), so that a broken interrupt path is a clear
         * error rather than a silent 100 ms-per-message crawl. */
        if (link_up && !woke_by_irq && W(other_slot + S_TX_HEAD) != W(my_slot + S_RX_TAIL)) {
            if (!pending_since)
                pending_since = now;
            else if (now - pending_since >= STALL_NS) {
                if (!stall_reported++)
                    say("ERROR no interrupt: a message waited %llu ms without a doorbell interrupt; draining by timer",
                        (unsigned long long)((now - pending_since) / 1000000u));
                drain();
                pending_since = 0;
            }
        }
        if (link_up && woke_by_irq) {
            drain();
            pending_since = 0;
        }
        if (initiator && link_up && !inflight_seq) {
            if (done >= count)
                finish(EXIT_PASS);
            inflight_seq = W(my_slot + S_TX_HEAD) + 1u;
            t_sent = now_ns();
            send_msg(PP_REQUEST);
            sent++;
        }
        if (!link_up && other_valid() && W(other_slot + S_STATE) == PP_READY && now - last_hello >= HELLO_NS) {
            last_hello = now; /* a hello lost while the other side was not READY yet */
            ring_other();
        }
        /* Sleep. drain() returned with tx_head == rx_tail, after the eventfd was read (§3.1), so a
         * doorbell since then is pending on the eventfd and poll() returns at once: no message can
         * be left behind, and every wake-up that finds a message is an interrupt's. */
        woke_by_irq = 0;
        now = now_ns();
        uint64_t wake_at = next_hb;
        if (deadline && deadline < wake_at)
            wake_at = deadline;
        int ms = wake_at > now ? (int)((wake_at - now + 999999u) / 1000000u) : 0;
        struct pollfd p = { .fd = efd[0], .events = POLLIN };
        int r = poll(&p, 1, ms);
        if (r > 0 && ack(efd[0])) { /* §3.1: acknowledge first, then drain */
            irq_wakes++;
            woke_by_irq = 1;
        } else {
            timer_wakes++;
        }
    }
}
