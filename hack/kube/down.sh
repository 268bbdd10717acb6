#!/usr/bin/env bash
# Stops what hack/kube/up.sh DIR started: every process group listed in DIR/pids, newest first.
# Each gets SIGTERM at its leader (tke-apiserver then stops its embedded PostgreSQL itself), then
# SIGTERM for the whole group, then SIGKILL for whatever is left. Data and logs stay in DIR.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: hack/kube/down.sh DIR" >&2; exit 2; }
dir="$1"
pids="$dir/pids"
[ -f "$pids" ] || exit 0

# Members of a process group that have not exited; zombies count as gone (their parent may be
# an init that reaps late).
members() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/' | grep -q .; }
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -q '^[^Z]'; }
wait_gone() { # pgid seconds
  local deadline=$(( $(date +%s) + $2 ))
  while members "$1"; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

mapfile -t entries < "$pids"
for (( i=${#entries[@]}-1; i>=0; i-- )); do
  read -r name pgid <<< "${entries[$i]}"
  [ -n "${pgid:-}" ] || continue
  members "$pgid" || continue
  # The leader first, so that it can stop its children in order.
  if alive "$pgid"; then
    kill -TERM "$pgid" 2>/dev/null || true
    wait_gone "$pgid" 30 && continue
  fi
  kill -TERM -- "-$pgid" 2>/dev/null || true
  wait_gone "$pgid" 10 && continue
  echo "hack/kube/down.sh: $name (process group $pgid) did not stop on SIGTERM; killing it" >&2
  kill -KILL -- "-$pgid" 2>/dev/null || true
  wait_gone "$pgid" 10 || echo "hack/kube/down.sh: process group $pgid of $name is still there" >&2
done

# PostgreSQL's processes leave the group of whoever started them (each calls setsid). tke-apiserver
# stops its embedded one on SIGTERM; if it could not (it was killed), stop that postmaster here:
# SIGINT is PostgreSQL's fast shutdown.
pm="$dir/tke/postgres/postmaster.pid"
if [ -f "$pm" ]; then
  pg="$(head -n 1 "$pm")"
  if [ -n "$pg" ] && alive "$pg" && grep -q postgres "/proc/$pg/comm" 2>/dev/null; then
    kill -INT "$pg" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pg" || break; sleep 0.2; done
    if alive "$pg"; then
      echo "hack/kube/down.sh: the embedded PostgreSQL ($pg) did not stop; killing it" >&2
      kill -KILL "$pg" 2>/dev/null || true
    fi
  fi
fi
rm -f "$pids"
