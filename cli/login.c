/* guise login / logout: registry credentials in $XDG_RUNTIME_DIR/containers/auth.json. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/commands.h"
#include "image/auth.h"
#include "image/reference.h"
#include "image/registry.h"
#include "util/cleanup.h"

static void login_usage(FILE *out)
{
  fputs("Usage: guise login [OPTIONS] REGISTRY\n"
        "\n"
        "Check the credentials against REGISTRY (HOST[:PORT]) and store them in\n"
        "$XDG_RUNTIME_DIR/containers/auth.json (mode 600).\n"
        "\n"
        "  -u, --username USER     user name (default: asked on the terminal)\n"
        "  -p, --password PASS     password (visible to other users: prefer --password-stdin)\n"
        "  --password-stdin        read the password from standard input\n"
        "  --tls-verify=false      accept any TLS certificate; allow plain http\n",
        out);
}

/* The host part of "docker://host/..." or "https://host/..." or "host". */
static char *host_of(const char *arg)
{
  const char *p = arg;
  if (strncmp(p, "docker://", 9) == 0)
    p += 9;
  else if (strncmp(p, "https://", 8) == 0)
    p += 8;
  else if (strncmp(p, "http://", 7) == 0)
    p += 7;
  return strndup(p, strcspn(p, "/"));
}

static char *read_line(FILE *in, bool echo)
{
  struct termios old, quiet;
  bool tty = !echo && isatty(fileno(in)) && tcgetattr(fileno(in), &old) == 0;
  if (tty) {
    quiet = old;
    quiet.c_lflag &= (tcflag_t)~ECHO;
    tcsetattr(fileno(in), TCSANOW, &quiet);
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, in);
  if (tty) {
    tcsetattr(fileno(in), TCSANOW, &old);
    fputc('\n', stderr);
  }
  if (n < 0) {
    free(line);
    return NULL;
  }
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  return line;
}

int cmd_login(int argc, char **argv)
{
  static const struct option opts[] = {{"username", required_argument, NULL, 'u'},
                                       {"password", required_argument, NULL, 'p'},
                                       {"password-stdin", no_argument, NULL, 'S'},
                                       {"tls-verify", optional_argument, NULL, 'T'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *user_arg = NULL, *pass_arg = NULL;
  bool pass_stdin = false, tls_verify = true;
  int c;
  while ((c = getopt_long(argc, argv, "+u:p:h", opts, NULL)) != -1) {
    switch (c) {
    case 'u':
      user_arg = optarg;
      break;
    case 'p':
      pass_arg = optarg;
      break;
    case 'S':
      pass_stdin = true;
      break;
    case 'T':
      tls_verify = optarg == NULL || strcmp(optarg, "true") == 0;
      break;
    case 'h':
      login_usage(stdout);
      return 0;
    default:
      login_usage(stderr);
      return 125;
    }
  }
  if (optind != argc - 1) {
    login_usage(stderr);
    return 125;
  }
  _cleanup_free_ char *host = host_of(argv[optind]);
  if (host == NULL || !image_ref_valid_registry(host)) {
    fprintf(stderr, "guise: login: invalid registry '%s'\n", argv[optind]);
    return 125;
  }
  _cleanup_free_ char *user = user_arg ? strdup(user_arg) : NULL;
  _cleanup_free_ char *pass = pass_arg ? strdup(pass_arg) : NULL;
  if (user == NULL) {
    if (pass_stdin) {
      fprintf(stderr, "guise: login: --password-stdin needs --username\n");
      return 125;
    }
    fprintf(stderr, "Username: ");
    user = read_line(stdin, true);
  }
  if (pass == NULL) {
    if (!pass_stdin)
      fprintf(stderr, "Password: ");
    pass = read_line(stdin, pass_stdin);
  }
  if (user == NULL || *user == '\0' || pass == NULL) {
    fprintf(stderr, "guise: login: no username or password\n");
    return 125;
  }
  struct registry_options ro = {.tls_verify = tls_verify, .quiet = true, .username = user,
                                .password = pass};
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_registry_ struct registry *reg = NULL;
  if (registry_open(host, NULL, &ro, &reg, &err) < 0 || registry_check_auth(reg, &err) < 0 ||
      auth_store(host, user, pass, &err) < 0) {
    guise_error_prefix(&err, "login %s", host);
    guise_error_print(err);
    return 125;
  }
  printf("Login Succeeded!\n");
  return 0;
}

int cmd_logout(int argc, char **argv)
{
  if (argc != 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs("Usage: guise logout REGISTRY\n", argc == 2 ? stdout : stderr);
    return argc == 2 ? 0 : 125;
  }
  _cleanup_free_ char *host = host_of(argv[1]);
  _cleanup_error_ guise_error *err = NULL;
  int r = auth_remove(host, &err);
  if (r < 0) {
    guise_error_prefix(&err, "logout %s", host);
    guise_error_print(err);
    return 125;
  }
  if (r == 0) {
    fprintf(stderr, "guise: logout %s: not logged in\n", host);
    return 1;
  }
  printf("Removed login credentials for %s\n", host);
  return 0;
}
