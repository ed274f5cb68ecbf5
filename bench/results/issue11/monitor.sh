#!/bin/bash
# Every 15 s: load average, machine CPU busy % over the interval, and the other helpers'
# activity (pytest / daphne / chromium processes outside this worktree).
OUT=bench/results/issue11/monitor.log
prev=($(head -1 /proc/stat)); 
while sleep 15; do
  cur=($(head -1 /proc/stat))
  idle=$(( (cur[4]+cur[5]) - (prev[4]+prev[5]) )); tot=0
  for i in 1 2 3 4 5 6 7 8; do tot=$((tot + cur[i] - prev[i])); done
  busy=$(( tot > 0 ? 100*(tot-idle)/tot : 0 )); prev=("${cur[@]}")
  others=$(ps -eo args | grep -v grep | grep -v '/work/wt/bench11' | grep -c 'pytest\|daphne\|chrom\|node ')
  who=$(ps -eo args | grep -v grep | grep -o '/work/wt/[^/]*' | grep -v bench11 | sort | uniq -c | sort -rn | head -4 | awk '{printf "%s:%s ", $2, $1}' | sed 's#/work/wt/##g')
  echo "$(date -u '+%T') load $(cut -d' ' -f1-3 /proc/loadavg) | cpu busy ${busy}% | others' pytest/daphne/chrome/node procs ${others} | ${who}" >> $OUT
done
