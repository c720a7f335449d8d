#!/usr/bin/env bash
# The issue's full-length loss case: 2 minutes of 10%, then of 30%.
source "$(dirname "$0")/lib.sh"
long_only
LONG=1 exec bash "$(dirname "$0")/f_loss.sh"
