/* Image references, as the user types them:
 *   docker://HOST[:PORT]/REPO[:TAG][@DIGEST]   a registry (docker://busybox = docker.io/library/busybox)
 *   oci:DIR[:REF]                               an OCI image layout directory
 *   oci-archive:FILE[:REF]                      a tar of an OCI image layout
 *   docker-archive:FILE[:NAME]                  a `docker save` tar
 *   NAME[:TAG][@DIGEST]                         a name in the local store (or, for pull, a registry)
 * A name without a registry is docker.io's; a one-component docker.io repository is library/'s;
 * a name without tag or digest means :latest. */
#ifndef GUISE_IMAGE_REFERENCE_H
#define GUISE_IMAGE_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

enum image_transport {
  TRANSPORT_NAME,    /* plain NAME[:TAG] */
  TRANSPORT_DOCKER,  /* docker:// */
  TRANSPORT_OCI,     /* oci: */
  TRANSPORT_OCI_ARCHIVE,
  TRANSPORT_DOCKER_ARCHIVE,
};

struct image_ref {
  enum image_transport transport;
  /* TRANSPORT_NAME and TRANSPORT_DOCKER */
  char *registry;   /* "docker.io", "127.0.0.1:5000" */
  char *repository; /* "library/busybox" */
  char *tag;        /* "latest" by default; NULL when only a digest was given */
  char *digest;     /* "sha256:..." or NULL */
  bool registry_explicit; /* the user wrote the registry (NAME transport lookups use this) */
  /* oci:, oci-archive:, docker-archive: */
  char *path;
  char *path_ref; /* the part after DIR: (NULL when absent) */
};

int image_ref_parse(const char *text, struct image_ref **out, guise_error **err);
/* Parse a docker-style NAME[:TAG][@DIGEST] (no transport prefix) into out (fields only). */
int image_ref_parse_name(const char *text, struct image_ref *out, guise_error **err);
void image_ref_free(struct image_ref *ref);
static inline void image_ref_freep(struct image_ref **ref)
{
  if (*ref != NULL)
    image_ref_free(*ref);
}
#define _cleanup_image_ref_ __attribute__((cleanup(image_ref_freep)))

/* "registry/repository:tag" (or "@digest" when there is no tag); malloc'd.  The name images
 * are stored under. */
char *image_ref_name(const struct image_ref *ref);
/* The reference to ask the registry for: the digest if any, else the tag. */
const char *image_ref_registry_ref(const struct image_ref *ref);
const char *image_transport_name(enum image_transport t);

/* Validators (exported for tests and for oci: REF names). */
bool image_ref_valid_tag(const char *tag);
bool image_ref_valid_repository(const char *repo);
bool image_ref_valid_registry(const char *host);
/* Whether host (with or without port) is a loopback name: localhost, 127.x.x.x, [::1]. */
bool image_ref_host_is_loopback(const char *host);

#endif
