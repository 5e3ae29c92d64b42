# tests/api/metrics_json.py - api.metrics_json: reads trp_stats_write()'s
# JSON of tests/api/metrics.c's known workload (--dump-json) on stdin and
# checks it with python3's own parser, then a few of its values.
import json
import sys

d = json.load(sys.stdin)
assert d["version"] == 1, d["version"]
assert len(d["workers"]) == 2
assert d["processed"] == 6, d["processed"]
assert d["dead_lettered"] == 3
assert d["dead_letters"]["failed"] == 1 and d["dead_letters"]["stopped"] == 2
assert d["actors"] == {"alive": 0, "spawned": 1, "stopped": 1, "failed": 1,
                       "restarted": 0}, d["actors"]
assert sum(w["messages"] for w in d["workers"]) == 6
for h in [d["sched_latency"]] + [w["sched_latency"] for w in d["workers"]]:
    assert len(h["buckets"]) == 32
    assert h["count"] == sum(h["buckets"])
print("ok: JSON parses, values as expected")
