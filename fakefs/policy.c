/* Assembling the faking policy (see policy.h). */
#include "fakefs/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakefs/cred.h"
#include "fakefs/db.h"
#include "fakefs/files.h"
#include "util/ids.h"

struct fakefs_policy {
  struct tracer_policy tp; /* tp.ctx = this struct */
  struct fakefs_cred_table *creds;
  struct fakefs_db *db;
  struct fakefs_files files;
  bool have_files;
  bool have_rootfs;
  dev_t rootfs_dev;
};

static void policy_process_exited(void *ctx, pid_t tgid)
{
  struct fakefs_policy *fp = ctx;
  fakefs_cred_forget(fp->creds, tgid);
}

static bool policy_deferred_pending(void *ctx)
{
  struct fakefs_policy *fp = ctx;
  return fp->db != NULL && fakefs_db_batch_pending(fp->db);
}

static void policy_flush_deferred(void *ctx)
{
  struct fakefs_policy *fp = ctx;
  if (fp->have_files) fakefs_files_flush(&fp->files);
}

/* The policy around db (owned from here on; NULL: credentials only). */
static int policy_new(struct fakefs_db *db, const char *rootfs, struct fakefs_policy **out,
                      guise_error **err)
{
  struct fakefs_policy *fp = calloc(1, sizeof(*fp));
  if (fp == NULL) {
    if (db != NULL)
      fakefs_db_close(db);
    return guise_fail(err, ENOMEM, "allocating the faking policy failed");
  }
  fp->tp.ctx = fp;
  fp->tp.process_exited = policy_process_exited;
  fp->creds = fakefs_cred_table_new();
  fp->db = db;
  if (db != NULL) {
    if (rootfs != NULL) {
      struct stat st;
      if (stat(rootfs, &st) < 0) {
        guise_fail_errno(err, "stat of %s failed", rootfs);
        goto fail;
      }
      if (fakefs_db_adopt_dev(fp->db, st.st_dev, err) < 0)
        goto fail;
      fp->rootfs_dev = st.st_dev;
      fp->have_rootfs = true;
      if (fakefs_policy_forget_volatile(fp, err) < 0) /* left by a session that was killed */
        goto fail;
    }
    uid_t uid;
    gid_t gid;
    kernel_ids(false, &uid, &gid); /* not the faked view of an outer faker */
    if (fakefs_files_init(&fp->files, fp->db, uid, gid, rootfs, fp->creds, err) < 0)
      goto fail;
    fp->have_files = true;
    fakefs_files_register(&fp->tp, &fp->files);
    fakefs_db_set_batching(fp->db, true);
    fp->tp.deferred_pending = policy_deferred_pending;
    fp->tp.flush_deferred = policy_flush_deferred;
  }
  fakefs_cred_register(&fp->tp, fp->creds);
  *out = fp;
  return 0;
fail:
  fakefs_policy_free(fp);
  return -1;
}

int fakefs_policy_new(const char *db_path, const char *rootfs, struct fakefs_policy **out,
                      guise_error **err)
{
  struct fakefs_db *db = NULL;
  if (db_path != NULL && fakefs_db_open(db_path, FAKEFS_DB_CREATE, &db, err) < 0)
    return guise_error_prefix(err, "opening the faked-state database %s", db_path);
  if (policy_new(db, rootfs, out, err) < 0)
    return db_path != NULL ? guise_error_prefix(err, "opening the faked-state database %s", db_path)
                           : -1;
  return 0;
}

int fakefs_policy_new_session(const char *load_from, struct fakefs_policy **out, guise_error **err)
{
  struct fakefs_db *db = NULL;
  if (fakefs_db_open_session(load_from, &db, err) < 0)
    return -1;
  return policy_new(db, NULL, out, err);
}

int fakefs_policy_save(struct fakefs_policy *fp, const char *path, guise_error **err)
{
  if (fp->db == NULL)
    return guise_fail(err, EINVAL, "saving the faked state to %s failed: no database", path);
  return fakefs_db_save(fp->db, path, err);
}

void fakefs_policy_free(struct fakefs_policy *fp)
{
  if (fp == NULL)
    return;
  if (fp->have_files)
    fakefs_files_destroy(&fp->files);
  if (fp->db != NULL)
    fakefs_db_close(fp->db);
  fakefs_cred_table_free(fp->creds);
  free(fp);
}

const struct tracer_policy *fakefs_policy_tracer(struct fakefs_policy *fp)
{
  return &fp->tp;
}

void fakefs_policy_tracees_in_userns(struct fakefs_policy *fp)
{
  if (fp->have_files)
    fp->files.kernel_maps_ids = true;
}

void fakefs_policy_filter_shape(struct tracer_policy *out, bool with_files)
{
  /* The register functions only store their context pointer; nothing dereferences it here. */
  static struct fakefs_files unused_files;
  *out = (struct tracer_policy){0};
  if (with_files)
    fakefs_files_register(out, &unused_files);
  fakefs_cred_register(out, NULL);
}

int fakefs_policy_forget_volatile(struct fakefs_policy *fp, guise_error **err)
{
  if (fp->db == NULL || !fp->have_rootfs)
    return 0;
  return fakefs_db_forget_other_devs(fp->db, fp->rootfs_dev, err);
}
