#!/usr/bin/env bash
# Headless Chromium for the control page's browser test. Not a server: the
# test starts its own short-lived browser; start/stop have nothing to do.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
case "${1:-}" in
install) apt_install chromium ;;
start | stop) ;;
status)
	if command -v chromium >/dev/null; then echo "chromium: installed ($(chromium --version 2>/dev/null | head -1))"; else echo "chromium: not installed"; exit 1; fi
	;;
*) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
