/* One entry point per subcommand, each in its own file under cli/. */
#ifndef GUISE_CLI_COMMANDS_H
#define GUISE_CLI_COMMANDS_H

int cmd_run(int argc, char **argv);

#endif
