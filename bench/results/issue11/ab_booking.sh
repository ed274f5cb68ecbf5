#!/bin/bash
# Booking has no peer in its run, so on a shared, loaded machine its p99 is compared with
# the code before the serving move run alternately, same command, same .venv:
# before = 8d826c2 (main just before the first issue-11 merge, serving internals still in
# realtime/ and medical_booking/), after = this branch. PAIRS pairs, order alternating.
set -u
OUT=/work/wt/bench11/bench/results/issue11
BEFORE=/work/wt/bench11-before
AFTER=/work/wt/bench11
PAIRS=${PAIRS:-5}
one() {  # side tree pair
  local side=$1 tree=$2 p=$3 f="$OUT/booking-ab-$p-$1.txt"
  { echo "# started $(date -u '+%F %T UTC'); tree $tree; commit $(git -C $tree rev-parse --short HEAD)"
    echo "# uptime: $(uptime)"; } > "$f"
  echo "$(date -u '+%F %T') start booking-ab $side pair $p ($(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$OUT/runs.log"
  (cd "$tree" && .venv/bin/python bench/booking.py --sockets 1000 --bookings 200 --interval-ms 50 --modes embedded,redis) >> "$f" 2>&1
  echo "# rc=$?; ended $(date -u '+%F %T UTC'); uptime: $(uptime)" >> "$f"
}
STOP_AFTER=${STOP_AFTER:-14:16}  # UTC: no pair starts after this (the results are due at 14:40)
for p in $(seq 1 "$PAIRS"); do
  [[ $(date -u +%H:%M) > $STOP_AFTER ]] && { echo "$(date -u '+%F %T') booking-ab: stopped before pair $p (past $STOP_AFTER)" | tee -a "$OUT/runs.log"; break; }
  if (( p % 2 )); then one before $BEFORE $p; one after $AFTER $p; else one after $AFTER $p; one before $BEFORE $p; fi
done
echo "$(date -u '+%F %T') booking-ab done" | tee -a "$OUT/runs.log"
