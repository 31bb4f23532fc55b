/* Registry credentials (containers-auth.json(5)) and WWW-Authenticate challenges. */
#ifndef GUISE_IMAGE_AUTH_H
#define GUISE_IMAGE_AUTH_H

#include "util/error.h"

/* $XDG_RUNTIME_DIR/containers/auth.json (REGISTRY_AUTH_FILE overrides); malloc'd. */
int auth_file_path(char **out, guise_error **err);

/* Credentials for host ("127.0.0.1:5000"): first auth.json, then ~/.docker/config.json.
 * Returns 1 with malloc'd *user and *password, 0 when there are none. */
int auth_lookup(const char *host, char **user, char **password, guise_error **err);
/* Write (replace) host's entry in auth.json, creating it with mode 600. */
int auth_store(const char *host, const char *user, const char *password, guise_error **err);
/* Remove host's entry: 1 when removed, 0 when there was none. */
int auth_remove(const char *host, guise_error **err);

/* One WWW-Authenticate challenge. */
enum auth_scheme { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };
struct www_auth {
  enum auth_scheme scheme;
  char *realm, *service, *scope; /* malloc'd; NULL when absent */
};
/* Parse the header value ("Bearer realm=\"...\",service=\"...\",scope=\"...\"").  A Bearer
 * challenge without a realm is an error ("401 without a realm in WWW-Authenticate"). */
int www_auth_parse(const char *header, struct www_auth *out, guise_error **err);
void www_auth_clear(struct www_auth *a);

/* base64 of "user:password" (malloc'd), and the reverse (returns -1 on malformed input). */
char *auth_encode_basic(const char *user, const char *password);
int auth_decode_basic(const char *b64, char **user, char **password, guise_error **err);

#endif
