/* Faked credentials (see cred.h). */
#include "fakefs/cred.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracer/pidmap.h"

#define NOCHANGE ((uint32_t)-1)
#define CAP_V1 0x19980330u
#define CAP_V2 0x20071026u
#define CAP_V3 0x20080522u

struct fakefs_cred_table {
  struct pidmap map; /* tgid -> struct fake_cred * */
  uint64_t all_caps;
};

/* --- the rules --- */

void fake_cred_init_root(struct fake_cred *c)
{
  *c = (struct fake_cred){0};
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

/* The faked effective capability set is full exactly while euid is 0. */
static bool privileged(const struct fake_cred *c)
{
  return c->euid == 0;
}

int fake_cred_setuid(struct fake_cred *c, uint32_t uid)
{
  if (uid == NOCHANGE)
    return EINVAL;
  if (privileged(c)) {
    c->ruid = c->euid = c->suid = c->fsuid = uid;
    return 0;
  }
  if (uid != c->ruid && uid != c->suid)
    return EPERM;
  c->euid = c->fsuid = uid;
  return 0;
}

int fake_cred_setgid(struct fake_cred *c, uint32_t gid)
{
  if (gid == NOCHANGE)
    return EINVAL;
  if (privileged(c)) {
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
  return setre(&c->ruid, &c->euid, &c->suid, &c->fsuid, privileged(c), ruid, euid);
}

int fake_cred_setregid(struct fake_cred *c, uint32_t rgid, uint32_t egid)
{
  return setre(&c->rgid, &c->egid, &c->sgid, &c->fsgid, privileged(c), rgid, egid);
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
  return setres(&c->ruid, &c->euid, &c->suid, &c->fsuid, privileged(c), ruid, euid, suid);
}

int fake_cred_setresgid(struct fake_cred *c, uint32_t rgid, uint32_t egid, uint32_t sgid)
{
  return setres(&c->rgid, &c->egid, &c->sgid, &c->fsgid, privileged(c), rgid, egid, sgid);
}

uint32_t fake_cred_setfsuid(struct fake_cred *c, uint32_t fsuid)
{
  uint32_t old = c->fsuid;
  if (fsuid != NOCHANGE && (privileged(c) || fsuid == c->ruid || fsuid == c->euid ||
                            fsuid == c->suid || fsuid == c->fsuid))
    c->fsuid = fsuid;
  return old;
}

uint32_t fake_cred_setfsgid(struct fake_cred *c, uint32_t fsgid)
{
  uint32_t old = c->fsgid;
  if (fsgid != NOCHANGE && (privileged(c) || fsgid == c->rgid || fsgid == c->egid ||
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
  if (!privileged(c))
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

static uint64_t cached_all_caps;

void fake_cred_caps(const struct fake_cred *c, uint64_t *effective, uint64_t *permitted,
                    uint64_t *inheritable)
{
  if (cached_all_caps == 0)
    cached_all_caps = all_caps_mask();
  /* As the kernel does for uid 0 without SECBIT_NOROOT: permitted while any of r/e/s is 0,
   * effective while euid is 0; inheritable stays empty. */
  *effective = c->euid == 0 ? cached_all_caps : 0;
  *permitted = (c->ruid == 0 || c->euid == 0 || c->suid == 0) ? cached_all_caps : 0;
  *inheritable = 0;
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
  if (!c->groups_faked)
    return; /* the kernel's view */
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
  if (!privileged(c))
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

static void do_capget(struct fakefs_cred_table *tab, struct fake_cred *c,
                      const struct syscall_event *ev, struct syscall_reply *r)
{
  struct {
    uint32_t version;
    int32_t pid;
  } hdr;
  if (tracee_read(ev->tracee, ev->args[0], &hdr, sizeof(hdr), NULL) < 0)
    return fail(r, EFAULT);
  int words;
  if (hdr.version == CAP_V1)
    words = 1;
  else if (hdr.version == CAP_V2 || hdr.version == CAP_V3)
    words = 2;
  else {
    /* Unknown version: tell the caller the preferred one (EINVAL, or 0 when only asking). */
    uint32_t v = CAP_V3;
    if (tracee_write(ev->tracee, ev->args[0], &v, sizeof(v), NULL) < 0)
      return fail(r, EFAULT);
    return ev->args[1] == 0 ? ret(r, 0) : fail(r, EINVAL);
  }
  if (ev->args[1] == 0)
    return ret(r, 0);
  if (hdr.pid < 0)
    return fail(r, EINVAL);
  const struct fake_cred *who = c;
  if (hdr.pid != 0 && hdr.pid != tracee_tgid(ev->tracee) && hdr.pid != ev->tid) {
    const struct fake_cred *other = pidmap_get(&tab->map, hdr.pid);
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
    return ret(r, 0); /* accepted, not modelled */
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
