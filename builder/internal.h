/* What the parts of the builder share: the build, its stages, and the helpers build.c, copy.c,
 * run.c and cache.c call on each other.  Not a public interface (see build.h). */
#ifndef GUISE_BUILDER_INTERNAL_H
#define GUISE_BUILDER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "builder/build.h"
#include "builder/containerfile.h"
#include "builder/ignore.h"
#include "fakefs/db.h"
#include "image/digest.h"
#include "image/store.h"
#include "image/user.h"
#include "util/error.h"

struct download;

struct stage {
  size_t index;
  char *name;        /* AS name (lower case), NULL when none */
  size_t first, end; /* its instructions: cf->ins[first] is the FROM, end is one past the last */
  bool needed;       /* the target depends on it */
  bool done;
  size_t step, steps; /* progress numbering */

  /* The image being built: parts of the image config, the layers so far. */
  json_t *config;   /* the config's "config" object */
  char *author;     /* MAINTAINER */
  json_t *layers;   /* manifest layer descriptors */
  json_t *diff_ids; /* rootfs.diff_ids */
  json_t *history;
  json_t *shell;  /* SHELL, default ["/bin/sh", "-c"] (also the config's Shell once set) */
  char **volumes; /* VOLUME directories to make before the next step that makes a layer */
  char **args;    /* ARGs in scope: "NAME=VALUE" */
  bool cmd_set;   /* a CMD of this stage (then ENTRYPOINT keeps it) */
  /* The cache chain: a digest of everything that determined the state so far (base image,
   * instructions, argument values, content of copied files). */
  char chain[DIGEST_STR_MAX];

  /* The root filesystem, made only when a step needs it (cache hits do not): the layers
   * [0, applied) are on disk. */
  char *dir;
  char *rootfs;
  char *db_path;
  int rootfd; /* -1 until made */
  size_t applied;
};

struct builder {
  const struct build_options *o;
  struct containerfile *cf;
  struct image_store *store;
  char *work;      /* this build's temporary directory (in the store, removed at the end) */
  char *cache_dir; /* <store>/build-cache: step results and RUN cache mounts */
  int contextfd;
  struct ignore *ignore;
  char **global_args; /* ARGs before the first FROM, "NAME=VALUE" */
  char **used_args;   /* --build-arg names some ARG declared */
  struct stage *stages;
  size_t n_stages; /* up to the target */
  size_t n_alloc;
  unsigned tmp_seq;           /* for unique names under work */
  struct download *downloads; /* ADD URLs fetched by this build (copy.c) */
  size_t n_downloads;
};

/* --- build.c --- */

/* Print a progress line (nothing with -q). */
void build_say(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make the stage's rootfs current: create it and apply the layers not yet on disk. */
int stage_materialize(struct builder *b, struct stage *st, guise_error **err);
/* A stage by AS name or index ("0"), among those before `before`; NULL when none. */
struct stage *stage_find(struct builder *b, const char *name, size_t before);
/* The variable lookup of a stage: ENV wins over ARG. */
const char *stage_lookup(void *ud, const char *name);
/* An absolute path inside the stage: relative paths are taken from WORKDIR. */
char *stage_abs_path(const struct stage *st, const char *path);
/* A new unique path under the build's work directory. */
char *build_tmp_path(struct builder *b, const char *what);

/* The image another instruction refers to by name (COPY --from=IMAGE, RUN --mount from=IMAGE):
 * loaded from the store, pulled when missing; its unpacked rootfs and database. */
struct image_source {
  char *rootfs;
  char *db_path;
  char manifest_digest[DIGEST_STR_MAX];
};
int build_image_source(struct builder *b, const char *name, struct image_source *out,
                       guise_error **err);
void image_source_clear(struct image_source *s);

/* The store name of a -t tag: without a registry it is localhost's, as podman does. */
int build_tag_name(const char *tag, char **name, guise_error **err);
/* Append img's layer descriptors to layers (a JSON array), with OCI media types. */
void build_layers_of(const struct stored_image *img, json_t *layers);

/* --- layers (build.c) --- */
struct rootfs_snapshot;
int stage_snapshot(struct stage *st, struct rootfs_snapshot **snap, guise_error **err);
/* The rootfs's changes since before become a layer of the stage; *desc gets its descriptor. */
int stage_commit_layer(struct builder *b, struct stage *st, const struct rootfs_snapshot *before,
                       json_t **desc, char diff_id[DIGEST_STR_MAX], guise_error **err);

/* --- cache.c --- */

/* The chain a stage starts from: base identity plus the settings that change every layer
 * (compression, SOURCE_DATE_EPOCH). */
void cache_seed(const struct builder *b, const char *base, char out[DIGEST_STR_MAX]);
/* chain := H(chain, material). */
void cache_advance(char chain[DIGEST_STR_MAX], const char *material);

/* A cached step result: the layer it produced (NULL: it changed nothing), its diff id and
 * when it was first made. */
struct cache_entry {
  json_t *layer; /* descriptor or NULL */
  char diff_id[DIGEST_STR_MAX];
  char *created;
};
void cache_entry_clear(struct cache_entry *e);
/* 1 with *e when key has an entry whose blobs are all still in the store, 0 when not. */
int cache_lookup(struct builder *b, const char *key, struct cache_entry *e);
int cache_store(struct builder *b, const char *key, const struct cache_entry *e, guise_error **err);
/* The finished image of a chain (the manifest digest), for an unchanged rebuild to give the
 * same image id.  lookup: 1 and manifest_digest when present with its blobs, 0 when not. */
int cache_image_lookup(struct builder *b, const char *chain, char manifest[DIGEST_STR_MAX]);
int cache_image_store(struct builder *b, const char *chain, const char *manifest,
                      guise_error **err);
/* The directory of a RUN --mount=type=cache with this id (created). */
int cache_mount_dir(struct builder *b, const char *id, char **dir, guise_error **err);

/* --- copy.c --- */

/* Where COPY/ADD sources and RUN bind mounts come from. */
struct source_root {
  int rootfd;                  /* the context, or a stage's or image's rootfs */
  const char *path;            /* its host path */
  struct fakefs_db *db;        /* faked state there (stage/image), NULL for the context */
  const struct ignore *ignore; /* the context's ignore file, NULL otherwise */
};
/* A --from=NAME / from=NAME: an earlier stage or an image (loaded or pulled); NAME NULL: the
 * build context.  With open_root, root is ready to read (a stage's rootfs made current) with
 * its faked-state database. */
struct from_source {
  struct source_root root;
  struct stage *stage;
  struct image_source image;
  int image_fd;
  const char *db_path;
  struct fakefs_db *db;
};
int from_source_open(struct builder *b, struct stage *st, const char *name, bool open_root,
                     struct from_source *fs, guise_error **err);
/* Feed the identity of a stage (its chain) or image (its manifest digest) to d; false for the
 * context, whose content must be hashed instead. */
bool from_source_identity(const struct from_source *fs, struct digest_ctx *d);
void from_source_clear(struct from_source *fs);
/* The paths (relative to the root, "" for the root itself) that a source pattern names, with
 * wildcards expanded per component inside the root; sorted.  Fails with ENOENT when nothing
 * matches. */
int source_match(const struct source_root *src, const char *pattern, char ***matches,
                 guise_error **err);
/* Feed the content of the matched paths (recursively, ignore rules applied) to d. */
int source_hash(const struct source_root *src, char *const *matches, const struct ignore *exclude,
                struct digest_ctx *d, guise_error **err);
/* The COPY/ADD instruction (sources already decided to be needed: a cache miss). */
int step_copy_files(struct builder *b, struct stage *st, const struct cf_instruction *in,
                    guise_error **err);
/* Content digest material of a COPY/ADD for the cache key. */
int copy_cache_material(struct builder *b, struct stage *st, const struct cf_instruction *in,
                        char **material, guise_error **err);
/* Copy the file or tree at rel in src to the new path dest (absolute; for a RUN bind mount of
 * the context with ignore rules, or a read-write one). */
int copy_tree_to_dir(const struct source_root *src, const char *rel, const char *dest,
                     guise_error **err);
void copy_downloads_free(struct builder *b);
/* Record in db the owner/mode/type a file must show (what the disk cannot keep). */
int meta_record(struct fakefs_db *db, int fd, const char *hint, uint32_t uid, uint32_t gid,
                uint32_t mode, uint64_t rdev, guise_error **err);

/* --- run.c --- */
/* Mountpoints the runtime creates in a rootfs (for a mount whose target is missing) are not
 * part of what the command made: made_paths_note remembers the missing components of each of
 * spec's destinations before the run, made_paths_remove removes them afterwards, deepest
 * first, where they are still empty directories or files. */
struct container_spec;
struct made_paths {
  char **paths;
};
void made_paths_note(int rootfd, const struct container_spec *spec, struct made_paths *mp);
void made_paths_remove(int rootfd, struct made_paths *mp);
/* Run as user ("name[:group]" or ids, resolved in rootfd's /etc/passwd and /etc/group, with
 * supplementary groups and its HOME unless the environment has one); NULL or "": root. */
int spec_apply_user(struct container_spec *spec, int rootfd, const char *user, guise_error **err);
int step_run(struct builder *b, struct stage *st, const struct cf_instruction *in,
             guise_error **err);
int run_cache_material(struct builder *b, struct stage *st, const struct cf_instruction *in,
                       char **material, guise_error **err);

/* --- fetch.c --- */
/* Download url into fd (an empty file); *mtime gets Last-Modified (-1 when absent) and digest
 * the content's sha256. */
int fetch_url(const char *url, int fd, int64_t *mtime, char digest[DIGEST_STR_MAX],
              guise_error **err);

/* --- small shared helpers --- */
int openat2_in(int dirfd, const char *path, int flags, mode_t mode);
/* path made absolute and cleaned lexically: no "//", ".", ".." or trailing "/" (malloc'd). */
char *path_clean(const char *path);
/* Open the directory path (absolute) of the rootfs, making the missing components 0755 as
 * mkdir -p does; with db, each one made gets the owner uid:gid there.  Symlinks on the way are
 * followed inside the rootfs, also dangling ones: their target is made (as docker does).
 * Returns an O_RDONLY directory fd; errors start with what ("COPY f: ..."). */
int rootfs_mkdirs(int rootfd, const char *path, struct fakefs_db *db, uint32_t uid, uint32_t gid,
                  const char *what, guise_error **err);
/* Remove a tree (making directories writable first); missing is fine. */
void remove_tree(const char *path);

#endif
