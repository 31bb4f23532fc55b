/* Loading an OCI runtime-spec bundle (config.json, runtime-spec 1.0-1.2) into a container_spec.
 *
 * Unknown fields are ignored so that newer configs load; fields guise cannot honour rootless
 * are an error only when they would change what runs (several uids mapped, joining an
 * existing namespace). Seccomp, devices, sysctls, hooks and resource limits are not applied
 * yet: a one-line warning on stderr says so when a config asks for them. */
#ifndef GUISE_RUNTIME_OCI_CONFIG_H
#define GUISE_RUNTIME_OCI_CONFIG_H

#include "runtime/spec.h"
#include "util/error.h"

/* Parse <bundle_dir>/config.json into spec. All or nothing: on failure spec is untouched.
 * On success every field config.json describes is replaced; spec->id and spec->fake_db (which
 * come from the command line) are kept. The caller fills the id and may then call
 * spec_init_defaults. Errors name the file and the JSON path:
 * "b/config.json: process.args: expected an array of strings". */
int oci_config_load(const char *bundle_dir, struct container_spec *spec, guise_error **err);

#endif
