/* The seccomp user-notification backend.
 *
 * Child side (tracer_child_install): a libseccomp filter that returns USER_NOTIF for exactly the
 * calls the policy handles (plus execve/execveat/chroot/pivot_root/setns/unshare, which the
 * tracer needs to keep its per-process caches right), decides in BPF what the arguments alone
 * decide (openat/open only with O_CREAT or O_TMPFILE, mknod/mknodat only for S_IFCHR/S_IFBLK,
 * unshare only with CLONE_NEWNS|CLONE_FS), and fails io_uring_setup with ENOSYS (io_uring would
 * carry out opens, stats and xattr calls the filter never sees).  The program is exported
 * from libseccomp and loaded with seccomp(2) directly, because libseccomp 2.5.4 cannot set
 * SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19+; without it a Go program's preemption signals
 * abort and restart notified calls over and over).
 *
 * Foreign architectures (i386 and x32 on x86_64, arm on aarch64) are in the filter too: every
 * call that is intercepted natively (under its 32-bit names as well: chown32, stat64, ...),
 * chroot, pivot_root, setns and unshare included, fails there with ENOSYS, decided in BPF;
 * only execve and execveat pass (under a view, which translates native calls only, every
 * foreign call fails but exit and exit_group, and so do native calls newer than guise
 * knows).  Choice: ENOSYS rather than kill, so a 32-bit program that
 * never touches faked calls still runs, and one that does gets an error it can report instead
 * of silently seeing the unfaked truth (which would be the case if those calls passed) or
 * dying without a message.  libseccomp cannot express those rules (see "foreign
 * architectures" below), so guise writes that part of the program itself.
 *
 * Supervisor side (tracer_serve): the main thread blocks in NOTIF_RECV; a watcher thread waits
 * for EPOLLHUP on the listener (every filtered task is gone, 5.9+) and reaps the first child;
 * one pidfd per known thread group, polled without blocking before each call is answered,
 * reports exits (dropping that process's caches and state).  SECCOMP_IOCTL_NOTIF_SET_FLAGS(SYNC_WAKE_UP) (6.6+) makes the kernel wake
 * the supervisor on the caller's CPU: the round trip drops from ~12 to ~5 µs. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracer/internal.h"
#include "util/cleanup.h"

/* The watcher thread's signal to the main thread, to interrupt its RECV (the commit timer has
 * its own, backend.c). */
#define WAKE_SIGNAL (SIGRTMIN + 2)

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
/* 6.6+, absent from Debian 12's headers. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define O_TMPFILE_BIT 020000000 /* __O_TMPFILE: O_TMPFILE without O_DIRECTORY */

/* --- the filter --- */

bool tracer_needs_call(enum syscall_id id)
{
  switch (id) {
  case SYSCALL_EXECVE:
  case SYSCALL_EXECVEAT:
  case SYSCALL_CHROOT:
  case SYSCALL_PIVOT_ROOT:
  case SYSCALL_SETNS:
  case SYSCALL_UNSHARE:
    return true;
  default:
    return false;
  }
}

static bool wanted(const struct tracer_policy *policy, enum syscall_id id)
{
  return policy->handlers[id] != NULL || tracer_needs_call(id) ||
         (policy->view != NULL && tracer_view_traps(id));
}

/* The argument conditions under which the filter intercepts id (either one suffices); 0: none,
 * every call is intercepted.  Decided in BPF from the arguments alone. */
struct arg_cond {
  unsigned arg;
  uint64_t mask; /* UINT64_MAX: plain equality */
  uint64_t value;
};

static int arg_conds(enum syscall_id id, struct arg_cond out[2])
{
  switch (id) {
  case SYSCALL_OPEN:
  case SYSCALL_OPENAT: {
    unsigned arg = id == SYSCALL_OPEN ? 1 : 2;
    out[0] = (struct arg_cond){arg, O_CREAT, O_CREAT};
    out[1] = (struct arg_cond){arg, O_TMPFILE_BIT, O_TMPFILE_BIT};
    return 2;
  }
  case SYSCALL_MKNOD:
  case SYSCALL_MKNODAT: {
    unsigned arg = id == SYSCALL_MKNOD ? 1 : 2;
    out[0] = (struct arg_cond){arg, S_IFMT, S_IFCHR};
    out[1] = (struct arg_cond){arg, S_IFMT, S_IFBLK};
    return 2;
  }
  case SYSCALL_PRCTL: /* the credential options fakefs/cred.c models, not every prctl */
    out[0] = (struct arg_cond){0, UINT64_MAX, PR_SET_KEEPCAPS};
    out[1] = (struct arg_cond){0, UINT64_MAX, PR_GET_KEEPCAPS};
    return 2;
  case SYSCALL_UNSHARE:
    out[0] = (struct arg_cond){0, CLONE_NEWNS, CLONE_NEWNS};
    out[1] = (struct arg_cond){0, CLONE_FS, CLONE_FS};
    return 2;
  default:
    return 0;
  }
}

/* Add the rule(s) for one native call. */
static int add_rules(scmp_filter_ctx ctx, uint32_t action, int nr, enum syscall_id id)
{
  struct arg_cond conds[2];
  int n = arg_conds(id, conds);
  if (n == 0) return seccomp_rule_add_exact(ctx, action, nr, 0);
  for (int i = 0; i < n; i++) {
    const struct arg_cond *c = &conds[i];
    int r =
        c->mask == UINT64_MAX
            ? seccomp_rule_add_exact(ctx, action, nr, 1, SCMP_CMP(c->arg, SCMP_CMP_EQ, c->value))
            : seccomp_rule_add_exact(ctx, action, nr, 1,
                                     SCMP_CMP(c->arg, SCMP_CMP_MASKED_EQ, c->mask, c->value));
    if (r != 0) return r;
  }
  return 0;
}

/* 32-bit-only names that mirror an id (i386, arm). */
static const struct {
  const char *name;
  enum syscall_id id;
} compat_names[] = {
    {"chown32", SYSCALL_CHOWN},         {"lchown32", SYSCALL_LCHOWN},
    {"fchown32", SYSCALL_FCHOWN},       {"setuid32", SYSCALL_SETUID},
    {"setgid32", SYSCALL_SETGID},       {"setreuid32", SYSCALL_SETREUID},
    {"setregid32", SYSCALL_SETREGID},   {"setresuid32", SYSCALL_SETRESUID},
    {"setresgid32", SYSCALL_SETRESGID}, {"setfsuid32", SYSCALL_SETFSUID},
    {"setfsgid32", SYSCALL_SETFSGID},   {"setgroups32", SYSCALL_SETGROUPS},
    {"getuid32", SYSCALL_GETUID},       {"geteuid32", SYSCALL_GETEUID},
    {"getgid32", SYSCALL_GETGID},       {"getegid32", SYSCALL_GETEGID},
    {"getresuid32", SYSCALL_GETRESUID}, {"getresgid32", SYSCALL_GETRESGID},
    {"getgroups32", SYSCALL_GETGROUPS}, {"stat64", SYSCALL_STAT},
    {"lstat64", SYSCALL_LSTAT},         {"fstat64", SYSCALL_FSTAT},
    {"fstatat64", SYSCALL_NEWFSTATAT},  {"oldstat", SYSCALL_STAT},
    {"oldlstat", SYSCALL_LSTAT},        {"oldfstat", SYSCALL_FSTAT},
};

/* Calls newer than libseccomp 2.5.4: same number everywhere (x32 adds its bit). */
static int new_call_number(enum syscall_id id)
{
  switch (id) {
  case SYSCALL_FCHMODAT2:
    return 452;
  case SYSCALL_SETXATTRAT:
    return 463;
  case SYSCALL_GETXATTRAT:
    return 464;
  case SYSCALL_LISTXATTRAT:
    return 465;
  case SYSCALL_REMOVEXATTRAT:
    return 466;
  default:
    return -1;
  }
}

/* --- foreign architectures ---
 * libseccomp 2.5.4 takes a rule's number as a native one and translates it to the filter's
 * other arches by name: it cannot express the 32-bit-only names (chown32, stat64) nor calls
 * newer than itself there, and an arch-specific number given to it silently became another
 * call (i386 chown32 = 212 was taken for x86_64's 212, lookup_dcookie).  So the foreign part of
 * the program is written here, with each arch's own numbers from libseccomp's tables: one block
 * per foreign arch in front of libseccomp's native program, which fails the intercepted calls
 * with ENOSYS and allows the rest. */

struct bpf_buf {
  struct sock_filter *insns;
  size_t len, cap;
  bool oom;
};

static void emit(struct bpf_buf *b, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
  if (b->len == b->cap) {
    size_t ncap = b->cap ? b->cap * 2 : 256;
    struct sock_filter *n = b->oom ? NULL : realloc(b->insns, ncap * sizeof(*n));
    if (n == NULL) {
      b->oom = true;
      return;
    }
    b->insns = n;
    b->cap = ncap;
  }
  b->insns[b->len++] = (struct sock_filter){code, jt, jf, k};
}

/* The low 32 bits of argument i in struct seccomp_data (all a 32-bit call has). */
static uint32_t arg_low(unsigned i)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return (uint32_t)(offsetof(struct seccomp_data, args) + 8 * i);
#else
  return (uint32_t)(offsetof(struct seccomp_data, args) + 8 * i + 4);
#endif
}

/* One call of a foreign block: ENOSYS when any of its conditions holds (or always). */
static void emit_foreign_call(struct bpf_buf *b, int nr, enum syscall_id id)
{
  struct arg_cond conds[2];
  int n = id < SYSCALL_ID_COUNT ? arg_conds(id, conds) : 0;
  const uint32_t enosys = SECCOMP_RET_ERRNO | ENOSYS;
  emit(b, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(n ? 3 * n + 2 : 1), (uint32_t)nr);
  for (int i = 0; i < n; i++) {
    emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, arg_low(conds[i].arg));
    emit(b, BPF_ALU | BPF_AND | BPF_K, 0, 0, (uint32_t)conds[i].mask);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)(3 * (n - i) - 2), 0, (uint32_t)conds[i].value);
  }
  if (n > 0)
    emit(b, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW); /* the call, but not a case of ours */
  emit(b, BPF_RET | BPF_K, 0, 0, enosys);
}

/* The block for one foreign arch: scmp is its libseccomp token; x32 calls come with the
 * native audit arch and __X32_SYSCALL_BIT in the number. */
static void emit_foreign_block(struct bpf_buf *b, uint32_t scmp, uint32_t audit,
                               const struct tracer_policy *policy)
{
  bool x32 = scmp == SCMP_ARCH_X32;
  emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
  emit(b, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, audit);
  size_t skip_arch = b->len;
  emit(b, BPF_JMP | BPF_JA, 0, 0, 0); /* to the next block: patched below */
  emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
  size_t skip_nr = SIZE_MAX;
  if (x32) {
    emit(b, BPF_JMP | BPF_JSET | BPF_K, 1, 0, 0x40000000);
    skip_nr = b->len;
    emit(b, BPF_JMP | BPF_JA, 0, 0, 0);
  }
  if (policy->view != NULL) {
    /* The view translates native calls only: a foreign one (an i386 execve or socketcall)
     * would reach host paths, so every one fails but the ends of a process. */
    static const char *const ends[] = {"exit", "exit_group"};
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
      int nr = seccomp_syscall_resolve_name_arch(scmp, ends[i]);
      if (nr < 0 || nr == __NR_SCMP_ERROR) continue;
      emit(b, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)nr);
      emit(b, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
    }
    emit(b, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS);
  }
  for (int id = 0; policy->view == NULL && id < SYSCALL_ID_COUNT; id++) {
    /* exec must work (a 32-bit program's own); the memory descriptor it makes stale is only
     * a cache: reads and writes then go through process_vm_readv/writev. */
    if (id == SYSCALL_EXECVE || id == SYSCALL_EXECVEAT ||
        !(wanted(policy, id) || id == SYSCALL_IO_URING_SETUP))
      continue;
    int nr = new_call_number(id);
    if (nr >= 0 && x32) nr |= 0x40000000;
    if (nr < 0) nr = seccomp_syscall_resolve_name_arch(scmp, syscall_name(id));
    if (nr >= 0 && nr != __NR_SCMP_ERROR) /* < 0: does not exist there */
      emit_foreign_call(b, nr, id);
  }
  for (size_t i = 0; policy->view == NULL && i < sizeof(compat_names) / sizeof(compat_names[0]);
       i++) {
    if (!wanted(policy, compat_names[i].id)) continue;
    int nr = seccomp_syscall_resolve_name_arch(scmp, compat_names[i].name);
    if (nr >= 0 && nr != __NR_SCMP_ERROR) emit_foreign_call(b, nr, SYSCALL_ID_COUNT);
  }
  if (policy->view == NULL) emit(b, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
  if (b->oom) return;
  b->insns[skip_arch].k = (uint32_t)(b->len - skip_arch - 1);
  if (skip_nr != SIZE_MAX) b->insns[skip_nr].k = (uint32_t)(b->len - skip_nr - 1);
}

/* Under a view, native calls newer than every call guise knows fail with ENOSYS: they are
 * not translated, and new ones take paths (file_getattr, file_setattr, open_tree_attr). */
static void emit_native_newer_block(struct bpf_buf *b, uint32_t native)
{
  int newest = 0;
  for (int id = 0; id < SYSCALL_ID_COUNT; id++)
    if (syscall_number(native, id) > newest) newest = syscall_number(native, id);
  emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
  emit(b, BPF_JMP | BPF_JEQ | BPF_K, 0, 3, native);
  emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
  emit(b, BPF_JMP | BPF_JGE | BPF_K, 0, 1, (uint32_t)newest + 1);
  emit(b, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS);
}

static int build_filter(const struct tracer_policy *policy, struct sock_fprog *prog,
                        guise_error **err)
{
  uint32_t native = syscall_native_arch();
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == NULL)
    return guise_fail(err, ENOMEM, "seccomp_init failed");
  int r = 0;
  for (int id = 0; r == 0 && id < SYSCALL_ID_COUNT; id++) {
    int nr = syscall_number(native, id);
    if (nr < 0)
      continue;
    if (id == SYSCALL_IO_URING_SETUP)
      r = add_rules(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, id);
    else if (wanted(policy, id)) /* a view needs every call, whatever its arguments */
      r = add_rules(ctx, SCMP_ACT_NOTIFY, nr, policy->view != NULL ? SYSCALL_ID_COUNT : id);
  }
  if (r != 0) {
    seccomp_release(ctx);
    return guise_fail(err, -r, "building the seccomp filter failed");
  }
  /* Export the BPF through a memfd (libseccomp 2.5.4 has no export to memory). */
  _cleanup_close_ int mfd = memfd_create("guise-seccomp", MFD_CLOEXEC);
  if (mfd < 0) {
    seccomp_release(ctx);
    return guise_fail_errno(err, "memfd_create failed");
  }
  r = seccomp_export_bpf(ctx, mfd);
  seccomp_release(ctx);
  if (r != 0)
    return guise_fail(err, -r, "exporting the seccomp filter failed");
  off_t size = lseek(mfd, 0, SEEK_END);
  if (size <= 0 || size % sizeof(struct sock_filter) != 0)
    return guise_fail(err, EINVAL, "exported seccomp filter has a bad size %lld", (long long)size);
  /* The foreign arches' blocks first, then libseccomp's native program. */
  struct bpf_buf b = {0};
  if (native == AUDIT_ARCH_X86_64) {
    emit_foreign_block(&b, SCMP_ARCH_X86, AUDIT_ARCH_I386, policy);
    emit_foreign_block(&b, SCMP_ARCH_X32, AUDIT_ARCH_X86_64, policy);
  } else {
    emit_foreign_block(&b, SCMP_ARCH_ARM, AUDIT_ARCH_ARM, policy);
  }
  if (policy->view != NULL) emit_native_newer_block(&b, native);
  size_t n = (size_t)size / sizeof(struct sock_filter);
  for (size_t i = 0; i < n; i++)
    emit(&b, 0, 0, 0, 0);
  if (b.oom) {
    free(b.insns);
    return guise_fail(err, ENOMEM, "allocating the seccomp filter failed");
  }
  if (pread(mfd, b.insns + b.len - n, (size_t)size, 0) != size) {
    free(b.insns);
    return guise_fail_errno(err, "reading the exported seccomp filter failed");
  }
  if (b.len > BPF_MAXINSNS) {
    free(b.insns);
    return guise_fail(err, E2BIG, "the seccomp filter is too long (%zu instructions)", b.len);
  }
  prog->len = (unsigned short)b.len;
  prog->filter = b.insns;
  return 0;
}

int tracer_filter_build(const struct tracer_policy *policy, struct tracer_filter *out,
                        guise_error **err)
{
  struct sock_fprog prog;
  if (build_filter(policy, &prog, err) < 0)
    return -1;
  out->insns = prog.filter;
  out->size = prog.len * sizeof(struct sock_filter);
  return 0;
}

int tracer_child_install(int sock, const struct tracer_policy *policy, guise_error **err)
{
  struct tracer_filter filter;
  if (tracer_filter_build(policy, &filter, err) < 0)
    return -1;
  int r = tracer_child_install_filter(sock, &filter, err);
  free(filter.insns);
  return r;
}

int tracer_child_install_filter(int sock, const struct tracer_filter *filter, guise_error **err)
{
  if (filter->size == 0 || filter->size % sizeof(struct sock_filter) != 0 ||
      filter->size / sizeof(struct sock_filter) > BPF_MAXINSNS)
    return guise_fail(err, EINVAL, "installing the seccomp filter failed (%zu bytes of program)",
                      filter->size);
  struct sock_fprog prog = {.len = (unsigned short)(filter->size / sizeof(struct sock_filter)),
                            .filter = filter->insns};
  unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (fd < 0 && errno == EINVAL) /* < 5.19 */
    fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  int e = errno;
  if (fd < 0) {
    if (e == EBUSY)
      return guise_fail(err, e, "installing the seccomp filter failed (an outer sandbox already "
                                "holds a seccomp listener)");
    if (e == EACCES)
      return guise_fail(err, e, "installing the seccomp filter failed (no_new_privs not set)");
    return guise_fail(err, e, "installing the seccomp filter failed");
  }
  int r = tracer_hello_send(sock, TRACER_BACKEND_SECCOMP, fd, err);
  close(fd); /* the supervisor's copy must be the only one, or tracees could block forever */
  return r;
}

bool tracer_seccomp_available(void)
{
  struct seccomp_notif_sizes sizes;
  return syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0;
}

/* --- the supervisor --- */

static int wstatus_of(const siginfo_t *si)
{
  switch (si->si_code) {
  case CLD_EXITED:
    return (si->si_status & 0xff) << 8;
  case CLD_DUMPED:
    return (si->si_status & 0x7f) | 0x80;
  default:
    return si->si_status & 0x7f;
  }
}

void tracer_seccomp_answer(struct tracer_state *st, struct seccomp_notif *req,
                           struct seccomp_notif_resp *resp, size_t resp_size)
{
  struct tracee t = {.tid = (pid_t)req->pid, .notif_id = req->id, .st = st};
  if (st->server != NULL && deleg_take(st, req))
    return; /* a nested supervisor's */
  struct syscall_reply reply;
  uint64_t args[6];
  for (int i = 0; i < 6; i++)
    args[i] = req->data.args[i];
  tracer_dispatch(st, &t, req->data.arch, req->data.nr, args, &reply);
  memset(resp, 0, resp_size);
  resp->id = req->id;
  if (reply.action == SYSCALL_RETURN_FD && reply.error == 0) {
    struct seccomp_notif_addfd addfd = {.id = req->id,
                                        .flags = SECCOMP_ADDFD_FLAG_SEND,
                                        .srcfd = (uint32_t)reply.value,
                                        .newfd_flags = reply.fd_cloexec ? O_CLOEXEC : 0};
    if (st->up != NULL) { /* the outer supervisor installs it, or fails the call */
      deleg_up_addfd(st->up, &addfd);
      close((int)reply.value);
      return;
    }
    /* Not interruptible by our own signals (the commit timer's, the watcher's): a signal
     * makes the kernel drop the queued descriptor but leave the notification marked as
     * answered, and the caller's open() returns 0 (seen: apt's download method then truncated
     * and hashed its stdin pipe).  Blocked here only: a sigprocmask pair per notification
     * would cost ~7% of the supervisor's time. */
    sigset_t ours, old;
    sigemptyset(&ours);
    sigaddset(&ours, WAKE_SIGNAL);
    sigaddset(&ours, tracer_deferred_signal());
    pthread_sigmask(SIG_BLOCK, &ours, &old);
    int r = ioctl(st->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close((int)reply.value);
    if (r >= 0 || e == ENOENT)
      return; /* answered (or the caller is gone) */
    resp->error = -e; /* e.g. EMFILE in the tracee */
  } else if (reply.action == SYSCALL_RETURN || reply.action == SYSCALL_RETURN_FD) {
    if (reply.action == SYSCALL_RETURN_FD)
      close((int)reply.value);
    if (reply.error != 0)
      resp->error = -reply.error;
    else
      resp->val = reply.value;
  } else {
    resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  }
  /* ENOENT: the caller was interrupted or died; nothing to do. */
  if (st->up != NULL)
    deleg_up_send(st->up, resp);
  else
    (void)ioctl(st->listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
}

bool tracee_call_valid(struct tracee *t)
{
  if (t->st->listener < 0 && t->st->up == NULL)
    return true; /* ptrace */
  return tracer_listener_id_valid(t->st, t->notif_id);
}

/* The watcher thread.  The main thread blocks in NOTIF_RECV itself, not in epoll: the
 * SYNC_WAKE_UP wake-up reaches a task waiting in RECV on the caller's CPU, while an epoll waiter
 * is woken the ordinary way (measured: 15 µs instead of ~5 per faked getuid).  RECV may
 * block for good once the last filtered task is gone (newer kernels fail it with ENOENT
 * instead: listener_hung_up), so this thread waits for that (EPOLLHUP on the
 * listener; with events 0 the per-notification EPOLLIN wake-ups never wake it), reaps
 * first_child meanwhile (a zombie keeps the filter alive), and then interrupts the main thread
 * with a signal until it notices. */
struct watcher {
  struct tracer_state *st;
  pthread_t main;
  int stopfd; /* eventfd: the main thread is leaving */
  pid_t first_child;
  int *wstatus;
  atomic_bool hup;
};

static void wake_handler(int sig)
{
  (void)sig;
}

static void *watch(void *arg)
{
  struct watcher *w = arg;
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  int child_pidfd = w->first_child > 0 ? (int)syscall(SYS_pidfd_open, w->first_child, 0) : -1;
  struct epoll_event ev = {.events = 0, .data.u64 = 0};
  epoll_ctl(epfd, EPOLL_CTL_ADD, w->st->listener, &ev);
  ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 1};
  epoll_ctl(epfd, EPOLL_CTL_ADD, w->stopfd, &ev);
  if (child_pidfd >= 0) {
    ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 2};
    epoll_ctl(epfd, EPOLL_CTL_ADD, child_pidfd, &ev);
  }
  for (;;) {
    struct epoll_event evs[4];
    int n = epoll_wait(epfd, evs, 4, -1);
    if (n < 0 && errno != EINTR)
      break;
    bool leave = false;
    for (int i = 0; i < n; i++) {
      if (evs[i].data.u64 == 1)
        leave = true;
      else if (evs[i].data.u64 == 2) {
        siginfo_t si = {0};
        if (waitid((idtype_t)P_PIDFD, (id_t)child_pidfd, &si, WEXITED | WNOHANG) == 0 &&
            si.si_pid != 0 && w->wstatus != NULL)
          *w->wstatus = wstatus_of(&si);
        /* Reaped, or not ours to reap (ECHILD): stop watching either way. */
        epoll_ctl(epfd, EPOLL_CTL_DEL, child_pidfd, NULL);
        close(child_pidfd);
        child_pidfd = -1;
      } else if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
        atomic_store(&w->hup, true);
        leave = true;
      }
    }
    if (leave)
      break;
  }
  if (child_pidfd >= 0)
    close(child_pidfd);
  close(epfd);
  /* Interrupt the main thread's RECV until it has seen the flag (a signal sent just before
   * it enters RECV would be lost, hence the repetition). */
  if (atomic_load(&w->hup)) {
    for (int i = 0; i < 1000; i++) {
      pthread_kill(w->main, WAKE_SIGNAL);
      struct pollfd pfd = {.fd = w->stopfd, .events = POLLIN};
      if (poll(&pfd, 1, 10) > 0)
        break;
    }
  }
  return NULL;
}

/* Recent kernels (seen on 6.18) make RECV fail with ENOENT at once, again and again, when the
 * last filtered task is gone, instead of blocking: without this check the main thread spun on
 * it, a CPU's worth of work while the container was being torn down, until the watcher's
 * signal came.  (ENOENT also means a single caller died before its call was received.) */
static bool listener_hung_up(int listener)
{
  struct pollfd pfd = {.fd = listener, .events = 0};
  return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR));
}

/* Process exits reported by pidfds (non-blocking), before a notification is acted on, so that
 * a reused pid never meets a dead process's caches. */
void tracer_drain_exits(struct tracer_state *st)
{
  struct epoll_event evs[32];
  int n;
  do {
    n = epoll_wait(st->epfd, evs, 32, 0);
    for (int i = 0; i < n; i++)
      tracer_proc_exited(st, (pid_t)(uint32_t)evs[i].data.u64);
  } while (n == 32);
}

int tracer_seccomp_serve(int listener, pid_t first_child, const struct tracer_policy *policy,
                         const struct tracer_delegation *deleg, int *wstatus, guise_error **err)
{
  if (wstatus != NULL)
    *wstatus = -1;
  struct tracer_state st = {.listener = -1, .epfd = -1, .policy = policy,
                            .page_size = sysconf(_SC_PAGESIZE)};
  _cleanup_free_ struct seccomp_notif *req = NULL;
  _cleanup_free_ struct seccomp_notif_resp *resp = NULL;
  struct watcher w = {.st = &st, .main = pthread_self(), .stopfd = -1,
                      .first_child = first_child, .wstatus = wstatus};
  bool watching = false;
  struct sigaction sa = {.sa_handler = wake_handler}, old_sa; /* no SA_RESTART: RECV -> EINTR */
  int ret = -1;

  st.listener = listener;
  struct seccomp_notif_sizes sizes;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
    guise_fail_errno(err, "SECCOMP_GET_NOTIF_SIZES failed");
    goto out;
  }
  size_t req_size = sizes.seccomp_notif > sizeof(*req) ? sizes.seccomp_notif : sizeof(*req);
  size_t resp_size =
      sizes.seccomp_notif_resp > sizeof(*resp) ? sizes.seccomp_notif_resp : sizeof(*resp);
  req = calloc(1, req_size);
  resp = calloc(1, resp_size);
  if (req == NULL || resp == NULL) {
    guise_fail(err, ENOMEM, "allocating notification buffers failed");
    goto out;
  }
  /* 6.6+: wake the supervisor on the caller's CPU.  Older kernels say EINVAL/ENOTTY. */
  (void)ioctl(st.listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);

  st.epfd = epoll_create1(EPOLL_CLOEXEC);
  w.stopfd = eventfd(0, EFD_CLOEXEC);
  if (st.epfd < 0 || w.stopfd < 0) {
    guise_fail_errno(err, "creating the supervisor's event descriptors failed");
    goto out;
  }
  sigaction(WAKE_SIGNAL, &sa, &old_sa);
  pthread_t thread;
  int e = pthread_create(&thread, NULL, watch, &w);
  if (e != 0) {
    guise_fail(err, e, "starting the supervisor's watcher thread failed");
    goto out;
  }
  watching = true;
  if (tracer_deferred_start(&st, err) < 0) goto out;
  if (deleg != NULL && deleg->offer >= 0 && deleg_server_start(&st, deleg, err) < 0)
    goto out;

  for (;;) {
    memset(req, 0, req_size); /* RECV insists on a zeroed buffer */
    if (ioctl(st.listener, SECCOMP_IOCTL_NOTIF_RECV, req) == 0) {
      tracer_drain_exits(&st);
      tracer_seccomp_answer(&st, req, resp, resp_size);
      tracer_deferred_poll(&st);
      continue;
    }
    int recv_errno = errno;
    tracer_deferred_poll(&st); /* the timer's signal interrupts RECV: this is its EINTR */
    errno = recv_errno;
    if (atomic_load(&w.hup) || (errno == ENOENT && listener_hung_up(st.listener))) {
      ret = 0; /* every filtered task is gone */
      break;
    }
    if (errno != EINTR && errno != ENOENT) {
      guise_fail_errno(err, "receiving a seccomp notification failed");
      goto out;
    }
  }
out:
  deleg_server_stop(&st);
  tracer_deferred_stop(&st);
  if (watching) {
    uint64_t one = 1;
    (void)!write(w.stopfd, &one, sizeof(one));
    pthread_join(thread, NULL);
    sigaction(WAKE_SIGNAL, &old_sa, NULL);
  }
  if (w.stopfd >= 0)
    close(w.stopfd);
  if (st.listener >= 0)
    close(st.listener); /* pending and later calls now fail with ENOSYS, never block */
  if (st.epfd >= 0)
    close(st.epfd);
  tracer_state_destroy(&st);
  return ret;
}
