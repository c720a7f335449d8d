/* The command tables of `weft`, one per subcommand group; tools/weft.c
 * lists them. */
#ifndef WEFT_TOOLS_COMMANDS_H
#define WEFT_TOOLS_COMMANDS_H

#include "tools/cli.h"

extern const struct cli_cmd ca_cmds[];   /* tools/cmd_ca.c */
extern const struct cli_cmd cert_cmds[]; /* tools/cmd_cert.c */

/* Leaves of the cert group, one file each. */
int cert_issue_main(const struct cli_ctx *ctx, int argc, char **argv);
int cert_inspect_main(const struct cli_ctx *ctx, int argc, char **argv);
int cert_verify_main(const struct cli_ctx *ctx, int argc, char **argv);
int cert_revoke_main(const struct cli_ctx *ctx, int argc, char **argv);

#endif
