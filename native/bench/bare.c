/*
 * bare: the engine's own ceiling for `make bench` (issue 10). The same Unicorn 2.1.4 library as the
 * addon (native/deps/unicorn/lib/libunicorn.a), opened the same way (Cortex-M3, Thumb, virtual TLB
 * with an identity TLB-fill hook that withholds EXEC from pages never fetched from, exits
 * enabled), the same ELF, only mps2-an385's RAM, UART0 and the System Control Space as MMIO, and
 * no block, code or memory hooks: nothing runs per block or per instruction that the engine does
 * not do itself. Semihosting (BKPT 0xAB: SYS_WRITEC, SYS_WRITE0, SYS_EXIT, SYS_EXIT_EXTENDED) is
 * served between runs, as cmemu does, through UC_HOOK_INTR (called only at a BKPT).
 *
 *   bare [--count] [--virtual-tlb] ELF   exit status = the guest's; UART0 and semihosting on stdout
 *
 * The TLB is Unicorn's own (UC_TLB_CPU) unless --virtual-tlb: cmemu's mode, an identity
 * TLB-fill hook that withholds EXEC from pages never fetched from. That mode alone is not correct
 * on Unicorn 2.1.4: a fill inside an IT block leaves ITSTATE stale when the IT block ends later in
 * the same translated block (docs/unicorn.md, "IT state and the TLB-fill hook"), and newlib's
 * memcpy then miscopies (bench_loop failed its memcpy check and ran 294.2 M instead of 301.2 M
 * instructions). The hook clears the restored ITSTATE: the rest of the IT block runs on the
 * conditions translated into it, the block's exit writes ITSTATE itself when it ends inside an IT
 * block, and any precise stop restores it from the instruction; so 0 is right whenever nothing
 * else writes it. One register read per fill (~135 000 on bench_loop), nothing per block. cmemu
 * repairs it differently (at the next block boundary), with the same result: bench_loop's
 * checksum, instruction count and TLB fills (135 4xx) agree.
 *
 * --count adds a block hook that counts executed instructions (for guest MIPS; not for timing)
 * and prints "bare: N instructions" on stderr at the end.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unicorn/unicorn.h>

#define PAGE 1024u
static uint8_t *flash, *sram;
static const uint32_t kFlash = 0x00000000u, kSram = 0x20000000u, kMemSize = 4u << 20;
static uint64_t execBits[(1u << 22) / 64];  /* one bit per 1 KiB page */
static int stopIntr = 0;
static uint64_t icount = 0;

static void die(const char *what, uc_err e) {
  fprintf(stderr, "bare: %s: %s\n", what, uc_strerror(e));
  exit(70);
}

static int isRam(uint32_t a) { return a < kFlash + kMemSize || (a - kSram) < kMemSize; }

static unsigned long long tlbFills;
static bool tlbFill(uc_engine *uc, uint64_t vaddr, uc_mem_type type, uc_tlb_entry *e, void *ud) {
  (void)ud;
  tlbFills++;
  uint32_t page = (uint32_t)vaddr & ~(PAGE - 1);
  uint32_t pn = page / PAGE;
  e->paddr = page;
  if (type == UC_MEM_FETCH) {
    if (!isRam(page)) return false;
    execBits[pn / 64] |= 1ull << (pn % 64);
    e->perms = UC_PROT_READ | UC_PROT_WRITE | UC_PROT_EXEC;
    return true;
  }
  uint32_t perms = UC_PROT_READ | UC_PROT_WRITE;
  if (execBits[pn / 64] & (1ull << (pn % 64))) perms |= UC_PROT_EXEC;
  e->perms = (uc_prot)perms;
  // Unicorn restored PC and ITSTATE to this access's instruction before calling us: clear the
  // ITSTATE (see the top of this file).
  uint32_t x = 0;
  uc_reg_read(uc, UC_ARM_REG_XPSR, &x);
  if (x & ((3u << 25) | (0x3Fu << 10))) {
    x &= ~((3u << 25) | (0x3Fu << 10));
    uc_reg_write(uc, UC_ARM_REG_XPSR, &x);
  }
  return true;
}

static void onIntr(uc_engine *uc, uint32_t intno, void *ud) {
  (void)ud;
  stopIntr = (int)intno;
  uc_emu_stop(uc);
}

static uint64_t uartRead(uc_engine *uc, uint64_t off, unsigned size, void *ud) {
  (void)uc; (void)size; (void)ud; (void)off;
  return 0;  /* STATE: TX never full; everything else reads 0 */
}
static void uartWrite(uc_engine *uc, uint64_t off, unsigned size, uint64_t v, void *ud) {
  (void)uc; (void)size; (void)ud;
  if (off == 0) putchar((int)(v & 0xFF));
}
static uint32_t scs[1024];  /* 0xE000E000..0xE000EFFF: plain registers (SysTick, SCB VTOR, ...) */
static uint64_t scsRead(uc_engine *uc, uint64_t off, unsigned size, void *ud) {
  (void)uc; (void)size; (void)ud;
  if (off == 0xD00) return 0x412FC231u;  /* CPUID: Cortex-M3 r2p1 */
  return scs[(off / 4) & 1023];
}
static void scsWrite(uc_engine *uc, uint64_t off, unsigned size, uint64_t v, void *ud) {
  (void)uc; (void)size; (void)ud;
  scs[(off / 4) & 1023] = (uint32_t)v;
}

static void onBlock(uc_engine *uc, uint64_t addr, uint32_t size, void *ud) {
  (void)ud;
  uint8_t buf[4096];
  if (size > sizeof buf || uc_mem_read(uc, addr, buf, size) != UC_ERR_OK) { icount += size / 2; return; }
  for (uint32_t i = 0; i + 1 < size;) {
    uint16_t h = (uint16_t)(buf[i] | (buf[i + 1] << 8));
    i += (h >> 11) >= 0x1d ? 4 : 2;
    icount++;
  }
}

static uint8_t *hostFor(uint32_t a, uint32_t n) {
  if (a - kFlash < kMemSize && a - kFlash + n <= kMemSize) return flash + (a - kFlash);
  if (a - kSram < kMemSize && a - kSram + n <= kMemSize) return sram + (a - kSram);
  return NULL;
}

static void loadElf(const char *path) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) { perror(path); exit(66); }
  uint8_t *img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (img == MAP_FAILED) { perror("mmap"); exit(66); }
  const Elf32_Ehdr *eh = (const Elf32_Ehdr *)img;
  if ((size_t)st.st_size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS32 ||
      eh->e_machine != EM_ARM) {
    fprintf(stderr, "bare: %s: not a 32-bit ARM ELF\n", path);
    exit(65);
  }
  for (int i = 0; i < eh->e_phnum; i++) {
    const Elf32_Phdr *ph = (const Elf32_Phdr *)(img + eh->e_phoff + (size_t)i * eh->e_phentsize);
    if (ph->p_type != PT_LOAD || ph->p_memsz == 0) continue;
    uint8_t *dst = hostFor(ph->p_paddr, ph->p_memsz);
    if (dst == NULL || ph->p_offset + ph->p_filesz > (uint64_t)st.st_size) {
      fprintf(stderr, "bare: %s: segment at 0x%08x outside RAM\n", path, ph->p_paddr);
      exit(65);
    }
    memcpy(dst, img + ph->p_offset, ph->p_filesz);
  }
  munmap(img, (size_t)st.st_size);
  close(fd);
}

int main(int argc, char **argv) {
  int count = 0, virtualTlb = 0;
  for (; argc > 2 && argv[1][0] == '-'; argv++, argc--) {
    if (strcmp(argv[1], "--count") == 0) count = 1;
    else if (strcmp(argv[1], "--virtual-tlb") == 0) virtualTlb = 1;
    else break;
  }
  if (argc != 2) { fprintf(stderr, "usage: bare [--count] [--virtual-tlb] ELF\n"); return 64; }
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  flash = mmap(NULL, kMemSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  sram = mmap(NULL, kMemSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  loadElf(argv[1]);

  uc_engine *uc;
  uc_err e = uc_open(UC_ARCH_ARM, UC_MODE_THUMB, &uc);
  if (e) die("uc_open", e);
  if ((e = uc_ctl_set_cpu_model(uc, UC_CPU_ARM_CORTEX_M3))) die("cpu model", e);
  if (virtualTlb && (e = uc_ctl_tlb_mode(uc, UC_TLB_VIRTUAL))) die("tlb mode", e);
  if ((e = uc_ctl_exits_enable(uc))) die("exits", e);
  if ((e = uc_mem_map_ptr(uc, kFlash, kMemSize, UC_PROT_ALL, flash))) die("map flash", e);
  if ((e = uc_mem_map_ptr(uc, kSram, kMemSize, UC_PROT_ALL, sram))) die("map sram", e);
  if ((e = uc_mmio_map(uc, 0x40004000u, PAGE, uartRead, NULL, uartWrite, NULL))) die("map uart", e);
  if ((e = uc_mmio_map(uc, 0xE000E000u, 4 * PAGE, scsRead, NULL, scsWrite, NULL))) die("map scs", e);
  uc_hook h;
  if ((e = uc_hook_add(uc, &h, UC_HOOK_TLB_FILL, (void *)tlbFill, NULL, 1, 0))) die("tlb hook", e);
  if ((e = uc_hook_add(uc, &h, UC_HOOK_INTR, (void *)onIntr, NULL, 1, 0))) die("intr hook", e);
  if (count && (e = uc_hook_add(uc, &h, UC_HOOK_BLOCK, (void *)onBlock, NULL, 1, 0))) die("block hook", e);

  uint32_t sp, pc;
  memcpy(&sp, flash, 4);
  memcpy(&pc, flash + 4, 4);
  uc_reg_write(uc, UC_ARM_REG_SP, &sp);
  int status = -1;
  while (status < 0) {
    stopIntr = -1;
    e = uc_emu_start(uc, pc | 1, 0, 0, 0);
    uc_reg_read(uc, UC_ARM_REG_PC, &pc);
    if (e != UC_ERR_OK) {
      fprintf(stderr, "bare: %s at pc 0x%08x\n", uc_strerror(e), pc);
      status = 70;
      break;
    }
    if (stopIntr != 7) {  /* EXCP_BKPT */
      fprintf(stderr, "bare: stopped at pc 0x%08x (interrupt %d)\n", pc, stopIntr);
      status = 70;
      break;
    }
    uint16_t insn = 0;
    uc_mem_read(uc, pc & ~1u, &insn, 2);
    if (insn != 0xBEAB) {
      fprintf(stderr, "bare: BKPT 0x%02x at pc 0x%08x\n", insn & 0xFF, pc);
      status = 70;
      break;
    }
    uint32_t r0, r1;
    uc_reg_read(uc, UC_ARM_REG_R0, &r0);
    uc_reg_read(uc, UC_ARM_REG_R1, &r1);
    uint8_t *p;
    switch (r0) {
      case 0x03:  /* SYS_WRITEC */
        if ((p = hostFor(r1, 1))) putchar(*p);
        break;
      case 0x04:  /* SYS_WRITE0 */
        while ((p = hostFor(r1++, 1)) && *p) putchar(*p);
        break;
      case 0x18:  /* SYS_EXIT: r1 = reason */
        status = r1 == 0x20026 ? 0 : 1;
        break;
      case 0x20: { /* SYS_EXIT_EXTENDED: r1 -> {reason, subcode} */
        uint32_t blk[2] = {0, 1};
        if ((p = hostFor(r1, 8))) memcpy(blk, p, 8);
        status = blk[0] == 0x20026 ? (int)blk[1] : 1;
        break;
      }
      default:
        fprintf(stderr, "bare: semihosting call 0x%x not supported\n", r0);
        status = 70;
        break;
    }
    pc = (pc & ~1u) + 2;  /* past the BKPT */
  }
  fflush(stdout);
  if (count) fprintf(stderr, "bare: %llu instructions, %llu TLB fills\n", (unsigned long long)icount, tlbFills);
  uc_close(uc);
  return status;
}
