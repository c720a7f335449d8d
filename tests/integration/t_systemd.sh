#!/usr/bin/env bash
# The unit file passes systemd-analyze verify (when systemd is there).
set -uo pipefail
UNIT=${UNIT:?path to the generated weftd.service}
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze is not installed"
	exit 77
fi
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
# Point ExecStart at the built binary so verify can find it.
sed "s#^ExecStart=[^ ]*#ExecStart=$WEFTD#" "$UNIT" >"$d/weftd.service"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$d/weftd.service" 2>&1)
# verify also complains about the host's own units, and says "ignoring"
# with exit 0 for a bad line of ours: any line about our unit fails.
ours=$(echo "$out" | grep -i "weftd.service" || true)
if [ -n "$ours" ]; then
	echo "FAIL: $ours"
	exit 1
fi
echo "weftd.service: no warnings"
echo PASS
