#!/bin/bash
# The daily digest side by side: `compare_digest.sh ref new new ref` alternates the code
# before the second pass (a `git archive 1ead052` export in /tmp/alerts-ref, translations
# compiled, on bench_alerts_ref: bench_alerts_ingest copied and downgraded to 0033) and
# this worktree's (on bench_alerts_ingest, at head); two rounds each, rolled back.
for side in "$@"; do
  if [ "$side" = ref ]; then code=/tmp/alerts-ref; dbn=bench_alerts_ref; else code=/work/wt-alerts; dbn=bench_alerts_ingest; fi
  cd $code && PYTHONPATH=$code timeout 2400 /work/main/.venv/bin/python /work/wt-alerts/bench/alerts/digest.py --database $dbn --rounds 2 --label $side 2>&1 | grep -v INFO
done
