/* Faked credentials (see cred.h). */
#include "fakefs/cred.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "tracer/pidmap.h"

#define NOCHANGE ((uint32_t)-1)
#define CAP_V1 0x19980330u
#define CAP_V2 0x20071026u
#define CAP_V3 0x20080522u
#define CAP_BIT(n) (UINT64_C(1) << (n))
/* Cleared from the effective set when fsuid leaves 0, restored from the permitted one when it
 * comes back (capabilities(7)). */
#define CAP_FS_MASK                                                                                \
  (CAP_BIT(CAP_CHOWN) | CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_DAC_READ_SEARCH) |                 \
   CAP_BIT(CAP_FOWNER) | CAP_BIT(CAP_FSETID) | CAP_BIT(CAP_LINUX_IMMUTABLE) | CAP_BIT(CAP_MKNOD) | \
   CAP_BIT(CAP_MAC_OVERRIDE))

struct fakefs_cred_table {
  struct pidmap map; /* tgid -> struct fake_cred * */
  uint64_t all_caps;
};

/* --- the rules --- */

static uint64_t all_caps_mask(void)
{
  int last = 40; /* CAP_CHECKPOINT_RESTORE, if /proc says nothing */
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (f != NULL) {
    if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
      last = 40;
    fclose(f);
  }
  return last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
}

static uint64_t all_caps(void)
{
  static uint64_t cached;
  if (cached == 0)
    cached = all_caps_mask();
  return cached;
}

void fake_cred_init_root(struct fake_cred *c)
{
  *c = (struct fake_cred){.cap_eff = all_caps(), .cap_prm = all_caps()};
}

void fake_cred_clear(struct fake_cred *c)
{
  free(c->groups);
  *c = (struct fake_cred){0};
}

int fake_cred_copy(struct fake_cred *dst, const struct fake_cred *src)
{
  uint32_t *g = NULL;
  if (src->ngroups > 0) {
    g = malloc(src->ngroups * sizeof(*g));
    if (g == NULL)
      return ENOMEM;
    memcpy(g, src->groups, src->ngroups * sizeof(*g));
  }
  *dst = *src;
  dst->groups = g;
  return 0;
}

static bool capable(const struct fake_cred *c, int cap)
{
  return (c->cap_eff & CAP_BIT(cap)) != 0;
}

/* capabilities(7), "Effect of user ID changes on capabilities": after r/e/s uids went from old
 * to what c has now. */
static void uids_changed(struct fake_cred *c, const struct fake_cred *old)
{
  if ((old->ruid == 0 || old->euid == 0 || old->suid == 0) && c->ruid != 0 && c->euid != 0 &&
      c->suid != 0 && !c->keepcaps)
    c->cap_prm = c->cap_eff = 0;
  if (old->euid == 0 && c->euid != 0)
    c->cap_eff = 0;
  else if (old->euid != 0 && c->euid == 0)
    c->cap_eff = c->cap_prm;
}

static int setuid_ids(struct fake_cred *c, uint32_t uid)
{
  if (uid == NOCHANGE)
    return EINVAL;
  if (capable(c, CAP_SETUID)) {
    c->ruid = c->euid = c->suid = c->fsuid = uid;
    return 0;
  }
  if (uid != c->ruid && uid != c->suid)
    return EPERM;
  c->euid = c->fsuid = uid;
  return 0;
}

int fake_cred_setuid(struct fake_cred *c, uint32_t uid)
{
  struct fake_cred old = *c;
  int e = setuid_ids(c, uid);
  if (e == 0)
    uids_changed(c, &old);
  return e;
}

int fake_cred_setgid(struct fake_cred *c, uint32_t gid)
{
  if (gid == NOCHANGE)
    return EINVAL;
  if (capable(c, CAP_SETGID)) {
    c->rgid = c->egid = c->sgid = c->fsgid = gid;
    return 0;
  }
  if (gid != c->rgid && gid != c->sgid)
    return EPERM;
  c->egid = c->fsgid = gid;
  return 0;
}

/* setreuid/setregid share the rule; r/e/s/fs point into the uid or gid fields. */
static int setre(uint32_t *r, uint32_t *e, uint32_t *s, uint32_t *fs, bool priv, uint32_t nr,
                 uint32_t ne)
{
  if (nr != NOCHANGE && !priv && nr != *r && nr != *e)
    return EPERM;
  if (ne != NOCHANGE && !priv && ne != *r && ne != *e && ne != *s)
    return EPERM;
  uint32_t old_r = *r;
  if (nr != NOCHANGE)
    *r = nr;
  if (ne != NOCHANGE)
    *e = ne;
  /* The saved id follows the new effective one when the real id is set or the effective one
   * is set to something other than the previous real id. */
  if (nr != NOCHANGE || (ne != NOCHANGE && ne != old_r))
    *s = *e;
  *fs = *e;
  return 0;
}

int fake_cred_setreuid(struct fake_cred *c, uint32_t ruid, uint32_t euid)
{
  struct fake_cred old = *c;
  int e = setre(&c->ruid, &c->euid, &c->suid, &c->fsuid, capable(c, CAP_SETUID), ruid, euid);
  if (e == 0)
    uids_changed(c, &old);
  return e;
}

int fake_cred_setregid(struct fake_cred *c, uint32_t rgid, uint32_t egid)
{
  return setre(&c->rgid, &c->egid, &c->sgid, &c->fsgid, capable(c, CAP_SETGID), rgid, egid);
}

static int setres(uint32_t *r, uint32_t *e, uint32_t *s, uint32_t *fs, bool priv, uint32_t nr,
                  uint32_t ne, uint32_t ns)
{
  if (!priv) {
    const uint32_t want[3] = {nr, ne, ns};
    for (int i = 0; i < 3; i++)
      if (want[i] != NOCHANGE && want[i] != *r && want[i] != *e && want[i] != *s)
        return EPERM;
  }
  if (nr != NOCHANGE)
    *r = nr;
  if (ne != NOCHANGE)
    *e = ne;
  if (ns != NOCHANGE)
    *s = ns;
  *fs = *e;
  return 0;
}

int fake_cred_setresuid(struct fake_cred *c, uint32_t ruid, uint32_t euid, uint32_t suid)
{
  struct fake_cred old = *c;
  int e = setres(&c->ruid, &c->euid, &c->suid, &c->fsuid, capable(c, CAP_SETUID), ruid, euid, suid);
  if (e == 0)
    uids_changed(c, &old);
  return e;
}

int fake_cred_setresgid(struct fake_cred *c, uint32_t rgid, uint32_t egid, uint32_t sgid)
{
  return setres(&c->rgid, &c->egid, &c->sgid, &c->fsgid, capable(c, CAP_SETGID), rgid, egid, sgid);
}

uint32_t fake_cred_setfsuid(struct fake_cred *c, uint32_t fsuid)
{
  uint32_t old = c->fsuid;
  if (fsuid != NOCHANGE && (capable(c, CAP_SETUID) || fsuid == c->ruid || fsuid == c->euid ||
                            fsuid == c->suid || fsuid == c->fsuid))
    c->fsuid = fsuid;
  if (old == 0 && c->fsuid != 0)
    c->cap_eff &= ~CAP_FS_MASK;
  else if (old != 0 && c->fsuid == 0)
    c->cap_eff |= c->cap_prm & CAP_FS_MASK;
  return old;
}

uint32_t fake_cred_setfsgid(struct fake_cred *c, uint32_t fsgid)
{
  uint32_t old = c->fsgid;
  if (fsgid != NOCHANGE && (capable(c, CAP_SETGID) || fsgid == c->rgid || fsgid == c->egid ||
                            fsgid == c->sgid || fsgid == c->fsgid))
    c->fsgid = fsgid;
  return old;
}

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int fake_cred_setgroups(struct fake_cred *c, size_t n, const uint32_t *groups)
{
  if (!capable(c, CAP_SETGID))
    return EPERM;
  if (n > FAKE_CRED_NGROUPS_MAX)
    return EINVAL;
  uint32_t *g = NULL;
  if (n > 0) {
    g = malloc(n * sizeof(*g));
    if (g == NULL)
      return ENOMEM;
    memcpy(g, groups, n * sizeof(*g));
    qsort(g, n, sizeof(*g), cmp_u32); /* the kernel keeps them sorted, getgroups shows that */
  }
  free(c->groups);
  c->groups = g;
  c->ngroups = n;
  c->groups_faked = true;
  return 0;
}

void fake_cred_caps(const struct fake_cred *c, uint64_t *effective, uint64_t *permitted,
                    uint64_t *inheritable)
{
  *effective = c->cap_eff;
  *permitted = c->cap_prm;
  *inheritable = c->cap_inh;
}

int fake_cred_capset(struct fake_cred *c, uint64_t effective, uint64_t permitted,
                     uint64_t inheritable)
{
  /* security/commoncap.c cap_capset; the bounding set is full. */
  uint64_t inh_limit = c->cap_inh | (capable(c, CAP_SETPCAP) ? all_caps() : c->cap_prm);
  if ((inheritable & ~inh_limit) != 0 || (permitted & ~c->cap_prm) != 0 ||
      (effective & ~permitted) != 0)
    return EPERM;
  c->cap_eff = effective;
  c->cap_prm = permitted;
  c->cap_inh = inheritable;
  return 0;
}

void fake_cred_exec(struct fake_cred *c)
{
  /* For root, file capability sets count as full (capabilities(7)); the file effective bit
   * as set for euid 0. */
  c->keepcaps = false;
  if (c->ruid == 0 || c->euid == 0) {
    c->cap_prm = all_caps();
    c->cap_eff = c->euid == 0 ? c->cap_prm : 0;
  } else {
    c->cap_prm = c->cap_eff = 0;
  }
}

/* --- the table --- */

struct fakefs_cred_table *fakefs_cred_table_new(void)
{
  struct fakefs_cred_table *tab = calloc(1, sizeof(*tab));
  if (tab == NULL)
    abort();
  return tab;
}

void fakefs_cred_table_free(struct fakefs_cred_table *tab)
{
  if (tab == NULL)
    return;
  pid_t k;
  void *v;
  for (size_t i = 0; pidmap_next(&tab->map, &i, &k, &v);) {
    fake_cred_clear(v);
    free(v);
  }
  pidmap_free(&tab->map);
  free(tab);
}

void fakefs_cred_forget(struct fakefs_cred_table *tab, pid_t tgid)
{
  struct fake_cred *c = pidmap_remove(&tab->map, tgid);
  if (c != NULL) {
    fake_cred_clear(c);
    free(c);
  }
}

static struct fake_cred *cred_for(struct fakefs_cred_table *tab, struct tracee *t)
{
  pid_t tgid = tracee_tgid(t);
  struct fake_cred *c = pidmap_get(&tab->map, tgid);
  if (c != NULL)
    return c;
  c = malloc(sizeof(*c));
  if (c == NULL)
    abort();
  fake_cred_init_root(c);
  /* Inherit from the nearest known ancestor: processes that never made an intercepted call
   * have their parent's credentials, so skipping them is right. */
  pid_t p = tracee_parent_tgid(t);
  for (int depth = 0; p > 0 && depth < 256; depth++) {
    struct fake_cred *pc = pidmap_get(&tab->map, p);
    if (pc != NULL) {
      if (fake_cred_copy(c, pc) != 0)
        abort();
      break;
    }
    p = tracer_parent_of(p);
  }
  if (pidmap_put(&tab->map, tgid, c) < 0)
    abort();
  return c;
}

const struct fake_cred *fakefs_cred_of(struct fakefs_cred_table *tab, struct tracee *t)
{
  return cred_for(tab, t);
}

int fakefs_cred_fsids(void *cred_ctx, struct tracee *t, uint32_t *fsuid, uint32_t *fsgid)
{
  const struct fake_cred *c = fakefs_cred_of(cred_ctx, t);
  *fsuid = c->fsuid;
  *fsgid = c->fsgid;
  return 0;
}

/* --- handlers --- */

static void ret(struct syscall_reply *r, int64_t value)
{
  r->action = SYSCALL_RETURN;
  r->value = value;
  r->error = 0;
}

static void fail(struct syscall_reply *r, int error)
{
  r->action = SYSCALL_RETURN;
  r->error = error;
}

static void ret_status(struct syscall_reply *r, int e)
{
  if (e != 0)
    fail(r, e);
  else
    ret(r, 0);
}

/* Write three ids (getresuid/getresgid); the kernel writes them one by one. */
static int put_ids(struct tracee *t, const uint64_t *addrs, const uint32_t *vals)
{
  for (int i = 0; i < 3; i++)
    if (tracee_write(t, addrs[i], &vals[i], sizeof(vals[i]), NULL) < 0)
      return EFAULT;
  return 0;
}

static void do_getgroups(struct fake_cred *c, const struct syscall_event *ev,
                         struct syscall_reply *r)
{
  if (!c->groups_faked) return; /* the kernel's view */
  int size = (int)ev->args[0];
  if (size < 0)
    return fail(r, EINVAL);
  if (size == 0)
    return ret(r, (int64_t)c->ngroups);
  if ((size_t)size < c->ngroups)
    return fail(r, EINVAL);
  if (c->ngroups > 0 &&
      tracee_write(ev->tracee, ev->args[1], c->groups, c->ngroups * sizeof(uint32_t), NULL) < 0)
    return fail(r, EFAULT);
  ret(r, (int64_t)c->ngroups);
}

static void do_setgroups(struct fake_cred *c, const struct syscall_event *ev,
                         struct syscall_reply *r)
{
  int size = (int)ev->args[0];
  if (!capable(c, CAP_SETGID))
    return fail(r, EPERM);
  if (size < 0 || size > FAKE_CRED_NGROUPS_MAX)
    return fail(r, EINVAL);
  uint32_t *g = NULL;
  if (size > 0) {
    g = malloc((size_t)size * sizeof(*g));
    if (g == NULL)
      return fail(r, ENOMEM);
    if (tracee_read(ev->tracee, ev->args[1], g, (size_t)size * sizeof(*g), NULL) < 0) {
      free(g);
      return fail(r, EFAULT);
    }
    /* The list was read from memory the caller could change: act only if still pending. */
    if (!tracee_call_valid(ev->tracee)) {
      free(g);
      return fail(r, EINTR);
    }
  }
  int e = fake_cred_setgroups(c, (size_t)size, g);
  free(g);
  ret_status(r, e);
}

/* The capget/capset header: the number of 32-bit words per set, or a negative errno (an
 * unknown version: the preferred one is written back, as the kernel does). */
static int cap_header(const struct syscall_event *ev, int32_t *pid)
{
  struct {
    uint32_t version;
    int32_t pid;
  } hdr;
  if (tracee_read(ev->tracee, ev->args[0], &hdr, sizeof(hdr), NULL) < 0)
    return -EFAULT;
  *pid = hdr.pid;
  if (hdr.version == CAP_V1)
    return 1;
  if (hdr.version == CAP_V2 || hdr.version == CAP_V3)
    return 2;
  uint32_t v = CAP_V3;
  if (tracee_write(ev->tracee, ev->args[0], &v, sizeof(v), NULL) < 0)
    return -EFAULT;
  return -EINVAL;
}

/* Whether pid, as the caller gave it (0, or a number in its own pid namespace, which the
 * supervisor's tids are not), names the caller itself. */
static bool names_self(const struct syscall_event *ev, int32_t pid)
{
  if (pid == 0 || pid == tracee_tgid(ev->tracee) || pid == ev->tid)
    return true;
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)ev->tid);
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return false;
  bool self = false;
  while (!self && fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, "NSpid:", 6) != 0 && strncmp(line, "NStgid:", 7) != 0)
      continue;
    /* The last number is the id in the innermost namespace, the caller's. */
    char *last = strrchr(line, '\t');
    self = last != NULL && strtol(last + 1, NULL, 10) == pid;
  }
  fclose(f);
  return self;
}

static void do_capget(struct fakefs_cred_table *tab, struct fake_cred *c,
                      const struct syscall_event *ev, struct syscall_reply *r)
{
  int32_t pid;
  int words = cap_header(ev, &pid);
  if (ev->args[1] == 0 && (words > 0 || words == -EINVAL))
    return ret(r, 0); /* only asking for the version */
  if (words < 0)
    return fail(r, -words);
  if (pid < 0)
    return fail(r, EINVAL);
  const struct fake_cred *who = c;
  if (!names_self(ev, pid)) {
    const struct fake_cred *other = pidmap_get(&tab->map, pid);
    if (other != NULL)
      who = other;
  }
  uint64_t e, p, i;
  fake_cred_caps(who, &e, &p, &i);
  uint32_t data[2][3] = {{(uint32_t)e, (uint32_t)p, (uint32_t)i},
                         {(uint32_t)(e >> 32), (uint32_t)(p >> 32), (uint32_t)(i >> 32)}};
  if (tracee_write(ev->tracee, ev->args[1], data, (size_t)words * 3 * sizeof(uint32_t), NULL) < 0)
    return fail(r, EFAULT);
  ret(r, 0);
}

static void do_capset(struct fake_cred *c, const struct syscall_event *ev, struct syscall_reply *r)
{
  int32_t pid;
  int words = cap_header(ev, &pid);
  if (words < 0)
    return fail(r, -words);
  if (!names_self(ev, pid))
    return fail(r, EPERM); /* only one's own sets */
  uint32_t data[2][3] = {{0}};
  if (tracee_read(ev->tracee, ev->args[1], data, (size_t)words * 3 * sizeof(uint32_t), NULL) < 0)
    return fail(r, EFAULT);
  if (!tracee_call_valid(ev->tracee))
    return fail(r, EINTR);
  uint64_t set[3];
  for (int k = 0; k < 3; k++)
    set[k] = data[0][k] | (uint64_t)data[1][k] << 32;
  ret_status(r, fake_cred_capset(c, set[0], set[1], set[2]));
}

/* prctl: only the options the filter lets through (PR_{GET,SET}_KEEPCAPS). */
static void do_prctl(struct fake_cred *c, const struct syscall_event *ev, struct syscall_reply *r)
{
  switch (ev->args[0]) {
  case PR_GET_KEEPCAPS:
    return ret(r, c->keepcaps);
  case PR_SET_KEEPCAPS:
    if (ev->args[1] > 1)
      return fail(r, EINVAL);
    c->keepcaps = ev->args[1] == 1;
    return ret(r, 0);
  default:
    return; /* the kernel's */
  }
}

static void cred_handler(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct fakefs_cred_table *tab = ctx;
  struct fake_cred *c = cred_for(tab, ev->tracee);
  const uint64_t *a = ev->args;
#define U(i) ((uint32_t)a[i])
  switch (ev->id) {
  case SYSCALL_GETUID:
    return ret(r, c->ruid);
  case SYSCALL_GETEUID:
    return ret(r, c->euid);
  case SYSCALL_GETGID:
    return ret(r, c->rgid);
  case SYSCALL_GETEGID:
    return ret(r, c->egid);
  case SYSCALL_GETRESUID: {
    const uint32_t v[3] = {c->ruid, c->euid, c->suid};
    return ret_status(r, put_ids(ev->tracee, a, v));
  }
  case SYSCALL_GETRESGID: {
    const uint32_t v[3] = {c->rgid, c->egid, c->sgid};
    return ret_status(r, put_ids(ev->tracee, a, v));
  }
  case SYSCALL_SETUID:
    return ret_status(r, fake_cred_setuid(c, U(0)));
  case SYSCALL_SETGID:
    return ret_status(r, fake_cred_setgid(c, U(0)));
  case SYSCALL_SETREUID:
    return ret_status(r, fake_cred_setreuid(c, U(0), U(1)));
  case SYSCALL_SETREGID:
    return ret_status(r, fake_cred_setregid(c, U(0), U(1)));
  case SYSCALL_SETRESUID:
    return ret_status(r, fake_cred_setresuid(c, U(0), U(1), U(2)));
  case SYSCALL_SETRESGID:
    return ret_status(r, fake_cred_setresgid(c, U(0), U(1), U(2)));
  case SYSCALL_SETFSUID:
    return ret(r, fake_cred_setfsuid(c, U(0)));
  case SYSCALL_SETFSGID:
    return ret(r, fake_cred_setfsgid(c, U(0)));
  case SYSCALL_GETGROUPS:
    return do_getgroups(c, ev, r);
  case SYSCALL_SETGROUPS:
    return do_setgroups(c, ev, r);
  case SYSCALL_CAPGET:
    return do_capget(tab, c, ev, r);
  case SYSCALL_CAPSET:
    return do_capset(c, ev, r);
  case SYSCALL_PRCTL:
    return do_prctl(c, ev, r);
  case SYSCALL_EXECVE:
  case SYSCALL_EXECVEAT:
    return fake_cred_exec(c); /* and the kernel runs it */
  default:
    return;
  }
#undef U
}

bool fakefs_cred_handles(enum syscall_id id)
{
  switch (id) {
  case SYSCALL_SETUID:
  case SYSCALL_SETGID:
  case SYSCALL_SETREUID:
  case SYSCALL_SETREGID:
  case SYSCALL_SETRESUID:
  case SYSCALL_SETRESGID:
  case SYSCALL_SETFSUID:
  case SYSCALL_SETFSGID:
  case SYSCALL_SETGROUPS:
  case SYSCALL_GETUID:
  case SYSCALL_GETEUID:
  case SYSCALL_GETGID:
  case SYSCALL_GETEGID:
  case SYSCALL_GETRESUID:
  case SYSCALL_GETRESGID:
  case SYSCALL_GETGROUPS:
  case SYSCALL_CAPGET:
  case SYSCALL_CAPSET:
  case SYSCALL_PRCTL:
  case SYSCALL_EXECVE:
  case SYSCALL_EXECVEAT:
    return true;
  default:
    return false;
  }
}

void fakefs_cred_register(struct tracer_policy *p, struct fakefs_cred_table *tab)
{
  for (int id = 0; id < SYSCALL_ID_COUNT; id++) {
    if (!fakefs_cred_handles(id))
      continue;
    p->handlers[id] = cred_handler;
    p->handler_ctx[id] = tab;
  }
}
