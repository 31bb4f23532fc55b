/* execve in a view (see tracer/translate.h).
 *
 * The kernel would look up a program's #! interpreter and its ELF PT_INTERP loader on the
 * host, so the tracer does it in the view: "#!" lines are expanded here (the kernel's way: the
 * interpreter, its one optional argument, the script's path as given, then argv[1..]), and a
 * dynamically linked program is run by exec'ing the view's own loader with the program as its
 * argument: LOADER --argv0 ARGV0 GUEST_PATH ARGS (glibc's ld.so, 2.33 and later).  The loader's
 * own opens (ld.so.cache, the libraries) are translated like any other call, so the view's
 * libraries are used.  Static programs run as they are.  /proc/PID/exe names the loader on the
 * host: the tracer remembers the program's guest path and answers for it (tracer/view.c).
 *
 * This is step one.  Running the program through ld.so shows in what it sees of itself: the
 * auxiliary vector (AT_EXECFN, AT_PHDR) and /proc/self/maps name the loader first, and other
 * loaders (musl, Bionic) take other options.  PRoot's design is the better one for later: a
 * small static loader of guise's own that maps the program and its interpreter from a script
 * the tracer writes (research/no-userns.md §2). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracer/translate.h"
#include "util/cleanup.h"

/* The kernel runs at most 5 #! scripts in a chain (exec_binprm: ELOOP past depth 5); so do we. */
#define MAX_SHEBANG 5
#define MAX_ARGS 65536

/* One argument of the new argv: a string already in the tracee, or one to copy there. */
struct arg {
  uint64_t addr;
  char *str; /* owned; NULL: addr */
};

struct argv_list {
  struct arg *a;
  size_t n;
};

static void argv_free(struct argv_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->a[i].str);
  free(l->a);
}

/* Insert count new strings (copied) at position 0 in place of the first `drop` entries. */
static int argv_prepend(struct argv_list *l, size_t drop, const char *const *strs, size_t count)
{
  if (drop > l->n) drop = l->n;
  struct arg *na = calloc(l->n - drop + count + 1, sizeof(*na));
  if (na == NULL) return -ENOMEM;
  for (size_t i = 0; i < count; i++)
    if ((na[i].str = strdup(strs[i])) == NULL) {
      for (size_t j = 0; j < i; j++)
        free(na[j].str);
      free(na);
      return -ENOMEM;
    }
  for (size_t i = 0; i < drop; i++)
    free(l->a[i].str);
  memcpy(na + count, l->a + drop, (l->n - drop) * sizeof(*na));
  free(l->a);
  l->a = na;
  l->n = l->n - drop + count;
  return 0;
}

static int read_argv(struct tracee *t, uint64_t addr, struct argv_list *l)
{
  if (addr == 0) return 0; /* Linux takes a NULL argv as empty */
  for (;;) {
    uint64_t ptr;
    if (tracee_read(t, addr + l->n * sizeof(ptr), &ptr, sizeof(ptr), NULL) < 0) return -EFAULT;
    if (ptr == 0) return 0;
    if (l->n >= MAX_ARGS) return -E2BIG;
    struct arg *grown = realloc(l->a, (l->n + 1) * sizeof(*grown));
    if (grown == NULL) return -ENOMEM;
    l->a = grown;
    l->a[l->n++] = (struct arg){.addr = ptr};
  }
}

/* The string argv[i] as the tracee has it, or ours. */
static int arg_string(struct tracee *t, const struct arg *a, char out[PATH_MAX])
{
  if (a->str != NULL) {
    if (strlen(a->str) >= PATH_MAX) return -E2BIG;
    strcpy(out, a->str);
    return 0;
  }
  if (tracee_read_string(t, a->addr, out, PATH_MAX, NULL) < 0) return -EFAULT;
  return 0;
}

/* A "#!" line: interpreter and optional argument (the rest of the line, as the kernel does). */
static int parse_shebang(char *buf, size_t n, char **interp, char **arg)
{
  buf[n] = '\0';
  char *end = strchr(buf, '\n');
  if (end != NULL) *end = '\0';
  char *p = buf + 2;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '\0') return -ENOEXEC;
  *interp = p;
  while (*p != '\0' && *p != ' ' && *p != '\t')
    p++;
  *arg = NULL;
  if (*p != '\0') {
    *p++ = '\0';
    while (*p == ' ' || *p == '\t')
      p++;
    char *q = p + strlen(p);
    while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
      *--q = '\0';
    if (*p != '\0') *arg = p;
  }
  return 0;
}

/* The PT_INTERP of an ELF file: 1 with interp filled, 0 when it has none (static). */
static int elf_interp(int fd, const unsigned char *hdr, size_t n, char interp[PATH_MAX])
{
  if (n < EI_NIDENT || memcmp(hdr, ELFMAG, SELFMAG) != 0) return -ENOEXEC;
  uint64_t phoff;
  unsigned phentsize, phnum;
  bool wide = hdr[EI_CLASS] == ELFCLASS64;
  if (wide && n >= sizeof(Elf64_Ehdr)) {
    const Elf64_Ehdr *e = (const Elf64_Ehdr *)hdr;
    phoff = e->e_phoff, phentsize = e->e_phentsize, phnum = e->e_phnum;
  } else if (!wide && n >= sizeof(Elf32_Ehdr)) {
    const Elf32_Ehdr *e = (const Elf32_Ehdr *)hdr;
    phoff = e->e_phoff, phentsize = e->e_phentsize, phnum = e->e_phnum;
  } else {
    return -ENOEXEC;
  }
  if (phentsize < (wide ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) || phnum > 4096) return -ENOEXEC;
  for (unsigned i = 0; i < phnum; i++) {
    union {
      Elf64_Phdr p64;
      Elf32_Phdr p32;
    } ph;
    size_t sz = wide ? sizeof(ph.p64) : sizeof(ph.p32);
    if (pread(fd, &ph, sz, (off_t)(phoff + (uint64_t)i * phentsize)) != (ssize_t)sz)
      return -ENOEXEC;
    uint32_t type = wide ? ph.p64.p_type : ph.p32.p_type;
    if (type != PT_INTERP) continue;
    uint64_t off = wide ? ph.p64.p_offset : ph.p32.p_offset;
    uint64_t len = wide ? ph.p64.p_filesz : ph.p32.p_filesz;
    if (len == 0 || len >= PATH_MAX) return -ENOEXEC;
    if (pread(fd, interp, len, (off_t)off) != (ssize_t)len) return -ENOEXEC;
    interp[len] = '\0';
    return 1;
  }
  return 0;
}

static int walk_errno(struct tracee *t, int dirfd, const char *path, char guest[PATH_MAX],
                      char host[PATH_MAX])
{
  _cleanup_error_ guise_error *err = NULL;
  if (translate_walk(t, dirfd, path, true, guest, host, &err) < 0)
    return -(err->errnum ? err->errnum : EINVAL);
  return 0;
}

/* Work out what to exec: *host the file for the kernel, l the new argv, guest_exe the guest
 * path /proc/PID/exe is to show. */
static int plan(struct tracee *t, int dirfd, const char *path, struct argv_list *l,
                char host[PATH_MAX], char guest_exe[PATH_MAX])
{
  char cur[PATH_MAX], guest[PATH_MAX];
  strcpy(cur, path);
  for (int depth = 0;; depth++) {
    int r = walk_errno(t, depth == 0 ? dirfd : AT_FDCWD, cur, guest, host);
    if (r < 0) return r;
    /* The kernel's checks on the file itself, which exec'ing the loader would skip. */
    if (access(host, X_OK) < 0) return -errno;
    struct stat st;
    if (stat(host, &st) < 0) return -errno;
    if (!S_ISREG(st.st_mode)) return -EACCES;
    strcpy(guest_exe, guest);
    _cleanup_close_ int fd = open(host, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0; /* executable but unreadable: the kernel may run it; we cannot look */
    unsigned char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0) return -errno;
    if (n >= 2 && buf[0] == '#' && buf[1] == '!') {
      if (depth >= MAX_SHEBANG) return -ELOOP;
      char *interp, *arg;
      if ((r = parse_shebang((char *)buf, (size_t)n, &interp, &arg)) < 0) return r;
      const char *strs[3] = {interp, arg != NULL ? arg : cur, cur};
      size_t count = arg != NULL ? 3 : 2;
      if ((r = argv_prepend(l, 1, strs, count)) < 0) return r;
      memmove(cur, interp, strlen(interp) + 1);
      continue;
    }
    char interp[PATH_MAX];
    r = elf_interp(fd, buf, (size_t)n, interp);
    if (r <= 0) return 0; /* static, or not ELF: the kernel decides (ENOEXEC: shells retry) */
    char iguest[PATH_MAX], ihost[PATH_MAX], argv0[PATH_MAX] = "";
    if ((r = walk_errno(t, AT_FDCWD, interp, iguest, ihost)) < 0) return r;
    if (l->n > 0 && (r = arg_string(t, &l->a[0], argv0)) < 0) return r;
    const char *strs[4] = {interp, "--argv0", argv0, guest};
    if ((r = argv_prepend(l, 1, strs, 4)) < 0) return r;
    strcpy(host, ihost);
    return 0;
  }
}

enum translate_result translate_exec(struct translator *tr, struct tracee *t, int dirfd,
                                     uint64_t path_addr, uint64_t argv_addr, int at_flags,
                                     struct scratch *s, long *nr, uint64_t args[6], int64_t *value)
{
  char path[PATH_MAX], host[PATH_MAX], guest_exe[PATH_MAX];
  if (tracee_read_string(t, path_addr, path, sizeof(path), NULL) < 0) {
    *value = -EFAULT;
    return TRANSLATE_RETURN;
  }
  if (path[0] == '\0') {
    /* fexecve: the descriptor's file, if it is one of the view's. */
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)t->tid, dirfd);
    ssize_t n = (at_flags & AT_EMPTY_PATH) ? readlink(link, target, sizeof(target) - 1) : -1;
    if (n <= 0 || (target[n] = '\0', view_to_guest(tr->view, target, path) < 0)) {
      *value = (at_flags & AT_EMPTY_PATH) ? -ENOSYS : -ENOENT;
      return TRANSLATE_RETURN;
    }
    dirfd = AT_FDCWD;
  }
  struct argv_list l = {0};
  int r = read_argv(t, argv_addr, &l);
  if (r == 0) r = plan(t, dirfd, path, &l, host, guest_exe);
  uint64_t *ptrs = NULL;
  uint64_t host_at = 0, argv_at = 0;
  if (r == 0 && (ptrs = calloc(l.n + 1, sizeof(*ptrs))) == NULL) r = -ENOMEM;
  for (size_t i = 0; r == 0 && i < l.n; i++) {
    ptrs[i] = l.a[i].str != NULL ? scratch_put(s, l.a[i].str, strlen(l.a[i].str) + 1) : l.a[i].addr;
    if (ptrs[i] == 0) r = -E2BIG;
  }
  if (r == 0 && ((argv_at = scratch_put(s, ptrs, (l.n + 1) * sizeof(*ptrs))) == 0 ||
                 (host_at = scratch_put(s, host, strlen(host) + 1)) == 0))
    r = -E2BIG;
  free(ptrs);
  argv_free(&l);
  if (r < 0) {
    *value = r;
    return TRANSLATE_RETURN;
  }
  char *exe = strdup(guest_exe);
  free(pidmap_remove(&tr->pending, t->tid));
  if (exe != NULL && pidmap_put(&tr->pending, t->tid, exe) < 0) free(exe);
  uint64_t envp =
      *nr == syscall_number(syscall_native_arch(), SYSCALL_EXECVEAT) ? args[3] : args[2];
  *nr = syscall_number(syscall_native_arch(), SYSCALL_EXECVE);
  args[0] = host_at;
  args[1] = argv_at;
  args[2] = envp;
  return TRANSLATE_REWRITE;
}
