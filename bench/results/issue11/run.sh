#!/bin/bash
# Issue 11 "Nothing slower": five cycles of the four benches, interleaved
# (cycle i runs fanout, booking, held, scaleout), load average and concurrent
# activity written before each run. Run from the repository root.
set -u
OUT=bench/results/issue11
PY=.venv/bin/python
CYCLES=${CYCLES:-5}
log() { echo "$(date -u '+%F %T') $*" | tee -a "$OUT/runs.log"; }
pre() {  # $1 = file
  { echo "# started $(date -u '+%F %T UTC'); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench/results' || echo +dirty)"
    echo "# uptime: $(uptime)"
    echo "# busiest other processes (ps, %cpu since start):"
    ps -eo pid,pcpu,etimes,comm --sort=-pcpu | head -8 | sed 's/^/#   /'
  } > "$1"
}
run() {  # name cycle cmd...
  local name=$1 c=$2; shift 2
  local f="$OUT/$name-$c.txt"
  pre "$f"
  log "start $name cycle $c ($(cut -d' ' -f1-3 /proc/loadavg))"
  local t0=$(date +%s)
  "$@" >> "$f" 2>&1; local rc=$?
  echo "# rc=$rc; $(($(date +%s)-t0)) s; ended $(date -u '+%F %T UTC'); uptime: $(uptime)" >> "$f"
  log "end $name cycle $c rc=$rc $(($(date +%s)-t0))s"
}
for c in $(seq 1 "$CYCLES"); do
  run fanout $c $PY bench/fanout.py --sockets 1000 --broadcasts 20 --repeat 3 --servers project,project-stock,pysio,node --redis
  run booking $c $PY bench/booking.py --sockets 1000 --bookings 200 --interval-ms 50 --modes embedded,redis
  run held $c $PY bench/held.py --sockets 5000 --servers project,project-stock,node
  run scaleout $c $PY bench/scaleout.py --sockets 1000 --broadcasts 20 --repeat 3
done
log "all done"
