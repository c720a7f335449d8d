/* The command tables of `weft`, one per subcommand group; tools/weft.c
 * lists them. */
#ifndef WEFT_TOOLS_COMMANDS_H
#define WEFT_TOOLS_COMMANDS_H

#include <stddef.h>

#include "tools/cli.h"

extern const struct cli_cmd ca_cmds[];   /* tools/cmd_ca.c */
extern const struct cli_cmd cert_cmds[]; /* tools/cmd_cert.c */
extern const struct cli_cmd intentions_cmds[]; /* tools/cmd_intentions.c */
extern const struct cli_cmd routes_cmds[];     /* tools/cmd_routes.c */

/* Leaves of the cert group, one file each. */
int cert_issue_main(const struct cli_ctx *ctx, int argc, char **argv);
int cert_inspect_main(const struct cli_ctx *ctx, int argc, char **argv);
int cert_verify_main(const struct cli_ctx *ctx, int argc, char **argv);
int cert_revoke_main(const struct cli_ctx *ctx, int argc, char **argv);

/* The agent commands (tools/cmd_agent.c, cmd_agent_control.c,
 * cmd_monitor.c), rows of weft.c's table; `weft revoke` is a group. */
extern const struct cli_cmd revoke_cmds[]; /* tools/cmd_agent_control.c */
int agent_members_main(const struct cli_ctx *ctx, int argc, char **argv);
int agent_services_main(const struct cli_ctx *ctx, int argc, char **argv);
int agent_info_main(const struct cli_ctx *ctx, int argc, char **argv);
int agent_join_main(const struct cli_ctx *ctx, int argc, char **argv);
int agent_leave_main(const struct cli_ctx *ctx, int argc, char **argv);
int agent_reload_main(const struct cli_ctx *ctx, int argc, char **argv);
int agent_monitor_main(const struct cli_ctx *ctx, int argc, char **argv);
int agent_revoke_apply_main(const struct cli_ctx *ctx, int argc,
                            char **argv);

/* Health, maintenance and certificates (tools/cmd_health.c). */
extern const struct cli_cmd check_cmds[];
extern const struct cli_cmd maint_cmds[];
int agent_checks_main(const struct cli_ctx *ctx, int argc, char **argv);
int agent_certs_main(const struct cli_ctx *ctx, int argc, char **argv);

/* One line of GET /v1/events for people: "<time> member failed db-1
 * 127.0.0.4:7370".  WEFT_EMALFORMED when the line is not a JSON object. */
int agent_event_format(const char *line, size_t len, char *out, size_t cap);

#endif
