/*
 * QEMU TCG plugin: counts guest instructions, and the instruction count at every
 * execution of one marker address (the firmware's `bench_mark`, called once per
 * environment step), so per-step instruction counts are exact and deterministic.
 *
 * Self-contained on purpose: Debian's qemu-system-arm is built with plugin support
 * but ships neither qemu-plugin.h nor the contrib plugins, so the few API declarations
 * needed are written out here. They are plugin API version 1 (QEMU 7.x). QEMU >= 9
 * replaced the inline-counter call used below; scripts/firmware-measure.sh falls back
 * to QEMU's exec trace there instead of loading this plugin.
 *
 * Build: gcc -O2 -shared -fPIC -fvisibility=hidden -o libinsncount.so insncount.c
 * Use:   qemu-system-arm ... -plugin ./libinsncount.so,mark=0xADDR,out=FILE
 *        qemu-system-arm ... -plugin ./libinsncount.so,profile=PROFILE[,mark=...]
 * Output (FILE, or stderr without out=):
 *   "mark <i> at_insn <count when the marker executes>" per marker execution,
 *   "insns <total>" at exit (the atexit hook also runs on a semihosting exit).
 * With profile=PROFILE, also one line "<hex address> <executions>" per executed
 * instruction address (flash, at 0x0800_0000 or its alias at 0; anything else is summed
 * under address "other"), written at exit: scripts/firmware-profile.sh maps the
 * addresses to (inlined) functions with llvm-symbolizer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

extern void qemu_plugin_register_vcpu_tb_trans_cb(
    qemu_plugin_id_t, void (*)(qemu_plugin_id_t, struct qemu_plugin_tb *));
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
extern struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
extern uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
extern void qemu_plugin_register_vcpu_insn_exec_inline(
    struct qemu_plugin_insn *, enum qemu_plugin_op, void *, uint64_t);
extern void qemu_plugin_register_vcpu_insn_exec_cb(
    struct qemu_plugin_insn *, void (*)(unsigned, void *), enum qemu_plugin_cb_flags, void *);
extern void qemu_plugin_register_atexit_cb(
    qemu_plugin_id_t, void (*)(qemu_plugin_id_t, void *), void *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One vCPU (Cortex-M), so plain globals need no locking. */
static uint64_t insns;
static uint64_t mark = UINT64_MAX;
static uint64_t marks;
static FILE *out;

/* Per-address execution counts for profile=: one counter per halfword of the F411's
 * 512 KiB flash (Thumb instructions are halfword-aligned), 2 MiB of counters. */
#define FLASH_BASE 0x08000000ULL
#define FLASH_SIZE 0x00080000ULL
static uint64_t *profile;
static uint64_t profile_other;
static const char *profile_path;

static uint64_t *profile_slot(uint64_t vaddr)
{
    uint64_t a = vaddr & ~1ULL;
    if (a >= FLASH_BASE && a < FLASH_BASE + FLASH_SIZE)
        return &profile[(a - FLASH_BASE) / 2];
    if (a < FLASH_SIZE) /* netduinoplus2 aliases flash at 0 */
        return &profile[a / 2];
    return &profile_other;
}

static void on_mark(unsigned vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    fprintf(out, "mark %llu at_insn %llu\n", (unsigned long long)marks++,
            (unsigned long long)insns);
}

/* Called once per translated block, not per execution: instruments every instruction
 * with an inline counter increment (no helper call, so it stays fast), and the marker
 * with a callback that runs when it executes. Whether the marker itself is already
 * counted then is the same for every marker execution, so differences between
 * consecutive marks are exact. */
static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        /* Thumb addresses: ignore the interworking bit on both sides. */
        if (mark != UINT64_MAX && (qemu_plugin_insn_vaddr(insn) & ~1ULL) == mark)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &insns, 1);
        if (profile)
            qemu_plugin_register_vcpu_insn_exec_inline(
                insn, QEMU_PLUGIN_INLINE_ADD_U64, profile_slot(qemu_plugin_insn_vaddr(insn)), 1);
    }
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    fprintf(out, "insns %llu\n", (unsigned long long)insns);
    fflush(out);
    if (profile) {
        FILE *p = fopen(profile_path, "w");
        if (!p) {
            perror(profile_path);
            return;
        }
        for (uint64_t i = 0; i < FLASH_SIZE / 2; i++)
            if (profile[i])
                fprintf(p, "%#llx %llu\n", (unsigned long long)(FLASH_BASE + 2 * i),
                        (unsigned long long)profile[i]);
        if (profile_other)
            fprintf(p, "other %llu\n", (unsigned long long)profile_other);
        fclose(p);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(
    qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    out = stderr;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "mark=", 5)) {
            mark = strtoull(argv[i] + 5, NULL, 0) & ~1ULL;
        } else if (!strncmp(argv[i], "out=", 4)) {
            out = fopen(argv[i] + 4, "w");
            if (!out) {
                perror(argv[i] + 4);
                return 1;
            }
        } else if (!strncmp(argv[i], "profile=", 8)) {
            profile_path = argv[i] + 8;
            profile = calloc(FLASH_SIZE / 2, sizeof *profile);
            if (!profile) {
                perror("insncount: profile counters");
                return 1;
            }
        } else {
            fprintf(stderr,
                    "insncount: unknown argument %s (want mark=ADDR, out=FILE, profile=FILE)\n",
                    argv[i]);
            return 1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
