/* One entry point per subcommand, each in its own file under cli/. */
#ifndef GUISE_CLI_COMMANDS_H
#define GUISE_CLI_COMMANDS_H

#include <stddef.h>

int cmd_run(int argc, char **argv);
int cmd_fake(int argc, char **argv);
int cmd_db(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_build(int argc, char **argv);
/* guise run IMAGE: in guise-full (cli/run_image.c); guise (cli/main.c) execs guise-full for it */
int cmd_run_image(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_history(int argc, char **argv);

/* Shared by the listing commands (cli/images.c): "3 weeks ago". */
void human_age(const char *created, char *out, size_t n);

#endif
