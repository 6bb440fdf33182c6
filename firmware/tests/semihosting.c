/*
 * semihosting: the ARM semihosting calls (BKPT 0xAB) a C library uses. Expected exit
 * code: 3 -- the program ends with SYS_EXIT_EXTENDED {ADP_Stopped_ApplicationExit, 3},
 * which makes QEMU (and cmemu) exit with status 3; that checks the subcode really is passed.
 *
 * Where the text goes with QEMU 7.2 (-semihosting-config enable=on,target=native):
 *   SYS_WRITEC, SYS_WRITE0           -> the semihosting console = QEMU's stderr
 *   SYS_WRITE to ":tt" opened "w"    -> stdout (interleaved with UART0 on -nographic)
 *   SYS_WRITE to ":tt" opened "a"    -> stderr
 * (":tt" with mode "r"/"w"/"a" is stdin/stdout/stderr: semihosting v2 SH_EXT_STDOUT_STDERR.)
 * Values that depend on the host or on time (clocks, heap addresses, errno numbers, file
 * handles) are checked for sanity but never printed.
 */
#include <string.h>
#include "test.h"

#define EXPECTED_EXIT 3

static int sh_open(const char *name, uint32_t mode)
{
    uint32_t args[3] = { (uint32_t)name, mode, strlen(name) };
    return (int)sh_call(SYS_OPEN, args);
}

static uint32_t sh_write(int fd, const char *s, uint32_t len)
{
    uint32_t args[3] = { (uint32_t)fd, (uint32_t)s, len };
    return sh_call(SYS_WRITE, args);   /* number of bytes NOT written */
}

static int sh_close(int fd)
{
    uint32_t args[1] = { (uint32_t)fd };
    return (int)sh_call(SYS_CLOSE, args);
}

int main(void)
{
    test_start("semihosting");

    /* Console output (stderr with QEMU): nothing to check but that the calls return. */
    const char *s = "semihosting: SYS_WRITEC\n";
    while (*s)
        sh_writec(*s++);
    sh_write0("semihosting: SYS_WRITE0\n");
    test_ok("SYS_WRITEC and SYS_WRITE0 returned");

    /* :tt handles */
    int in = sh_open(":tt", SH_MODE_R);
    int out = sh_open(":tt", SH_MODE_W);
    int err = sh_open(":tt", SH_MODE_A);
    CHECK(in != -1 && out != -1 && err != -1, "SYS_OPEN of :tt failed (r %d, w %d, a %d)", in, out, err);
    CHECK(in != out && out != err && in != err, "SYS_OPEN :tt handles not distinct");
    test_ok("SYS_OPEN \":tt\" with modes r, w, a gives three handles");
    static const char to_out[] = "semihosting: SYS_WRITE to :tt \"w\" (stdout)\n";
    static const char to_err[] = "semihosting: SYS_WRITE to :tt \"a\" (stderr)\n";
    uint32_t left = sh_write(out, to_out, sizeof to_out - 1);
    CHECK_EQ(left, 0, "SYS_WRITE to stdout: bytes not written");
    left = sh_write(err, to_err, sizeof to_err - 1);
    CHECK_EQ(left, 0, "SYS_WRITE to stderr: bytes not written");
    test_ok("SYS_WRITE to stdout and stderr wrote everything");

    /* Time */
    int32_t clock1 = (int32_t)sh_call(SYS_CLOCK, 0);
    int32_t t = (int32_t)sh_call(SYS_TIME, 0);
    uint32_t e1[2] = { 0, 0 }, e2[2] = { 0, 0 };
    int r1 = (int)sh_call(SYS_ELAPSED, e1);
    for (volatile int i = 0; i < 10000; i++)
        ;
    int r2 = (int)sh_call(SYS_ELAPSED, e2);
    int32_t freq = (int32_t)sh_call(SYS_TICKFREQ, 0);
    int32_t clock2 = (int32_t)sh_call(SYS_CLOCK, 0);
    CHECK(clock1 >= 0 && clock2 >= clock1, "SYS_CLOCK %d then %d", clock1, clock2);
    CHECK(t > 1600000000, "SYS_TIME %d is before 2020", t);
    CHECK(r1 == 0 && r2 == 0, "SYS_ELAPSED returned %d, %d", r1, r2);
    uint64_t t1 = ((uint64_t)e1[1] << 32) | e1[0], t2 = ((uint64_t)e2[1] << 32) | e2[0];
    CHECK(t2 >= t1 && t2 != 0, "SYS_ELAPSED went backwards or stayed 0");
    CHECK(freq > 0, "SYS_TICKFREQ %d", freq);
    test_ok("SYS_CLOCK, SYS_TIME, SYS_ELAPSED, SYS_TICKFREQ give sane values");

    /* SYS_ERRNO after a failing call */
    int bad = sh_open("/nonexistent-cmemu-dir/none", SH_MODE_R);
    int e = (int)sh_call(SYS_ERRNO, 0);
    CHECK(bad == -1, "SYS_OPEN of a missing file returned %d", bad);
    CHECK(e != 0, "SYS_ERRNO is 0 after a failed SYS_OPEN");
    test_ok("SYS_OPEN of a missing file fails and sets SYS_ERRNO");

    /* SYS_HEAPINFO: r1 -> pointer to {heap base, heap limit, stack base, stack limit} */
    uint32_t info[4] = { 0, 0, 0, 0 };
    uint32_t *pinfo = info;
    sh_call(SYS_HEAPINFO, &pinfo);
    CHECK(info[1] > info[0], "SYS_HEAPINFO heap 0x%08x..0x%08x", info[0], info[1]);
    CHECK(info[2] > info[3], "SYS_HEAPINFO stack 0x%08x..0x%08x", info[3], info[2]);
    test_ok("SYS_HEAPINFO gives a non-empty heap and stack");

    /* The feature file: "SHFB" then a byte with bit0 = SYS_EXIT_EXTENDED supported,
     * bit1 = :tt "a" is stderr. SYS_READ returns the number of bytes NOT read. */
    int f = sh_open(":semihosting-features", SH_MODE_RB);
    CHECK(f != -1, "SYS_OPEN :semihosting-features failed");
    uint32_t flen_args[1] = { (uint32_t)f };
    int flen = (int)sh_call(SYS_FLEN, flen_args);
    uint8_t feat[8] = { 0 };
    uint32_t read_args[3] = { (uint32_t)f, (uint32_t)feat, sizeof feat };
    uint32_t unread = sh_call(SYS_READ, read_args);
    CHECK_EQ(flen, 5, "SYS_FLEN of :semihosting-features");
    CHECK_EQ(unread, sizeof feat - 5, "SYS_READ of :semihosting-features: bytes not read");
    CHECK(memcmp(feat, "SHFB", 4) == 0, "feature magic");
    CHECK_EQ(feat[4] & 3u, 3u, "feature byte: EXIT_EXTENDED and STDOUT_STDERR");
    CHECK_EQ(sh_close(f), 0, "SYS_CLOSE of the feature file");
    test_ok(":semihosting-features: SHFB, EXIT_EXTENDED and STDOUT_STDERR");

    /* SYS_GET_CMDLINE: QEMU gives the -kernel file name (plus any -append text). */
    char cmdline[256];
    uint32_t cl_args[2] = { (uint32_t)cmdline, sizeof cmdline };
    CHECK_EQ(sh_call(SYS_GET_CMDLINE, cl_args), 0, "SYS_GET_CMDLINE result");
    CHECK(strstr(cmdline, "semihosting.elf") != 0, "SYS_GET_CMDLINE gave \"%s\"", cmdline);
    test_ok("SYS_GET_CMDLINE names the ELF file");

    CHECK_EQ(sh_close(in), 0, "SYS_CLOSE stdin");
    CHECK_EQ(sh_close(out), 0, "SYS_CLOSE stdout");
    CHECK_EQ(sh_close(err), 0, "SYS_CLOSE stderr");
    test_ok("SYS_CLOSE of the :tt handles");

    kprintf("exiting with SYS_EXIT_EXTENDED, code %u\n", EXPECTED_EXIT);
    kprintf("PASS: semihosting\n");
    sh_exit(EXPECTED_EXIT);
}
