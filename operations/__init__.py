"""What an operator watches: ``/healthz``, ``/readyz``, ``/metrics`` and the request log.

- ``health``: the readiness checks (database, bus, in-server schedulers);
- ``metrics``: the counters and histograms the code records into (no project import, so
  ``realtime`` may call it without a cycle); ``collectors``: the gauges read at scrape;
- ``access``: who may read ``/metrics``; ``views``: the three endpoints;
- ``middleware``: HTTP latency by route and one log line per request; ``jsonlog``: the
  JSON log formatter (``LOG_FORMAT=json``).
"""
