#!/usr/bin/env bash
# The issue's full-length partition case: 60 s split, then heal.
source "$(dirname "$0")/lib.sh"
long_only
LONG=1 exec bash "$(dirname "$0")/f_partition.sh"
