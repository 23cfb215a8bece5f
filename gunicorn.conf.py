"""Production with several workers (PostgreSQL; README, Deployment): `gunicorn app.main:app -c gunicorn.conf.py`.

Gunicorn supervises the workers (uvicorn's event loop in each, as under `uvicorn`) and, with reuse_port, gives each
worker a listening socket of its own, over which the kernel spreads new connections. Under `uvicorn --workers` the
workers share one socket and the first one awake accepts every connection waiting: phones and proxies that keep
their connection alive then all stay on that worker while the other idles (docs/benchmarks.md, OpenRosa).
"""

import os

worker_class = "uvicorn_worker.UvicornWorker"
workers = os.cpu_count() or 1
reuse_port = True
# An idle connection stays open 5 s, as under uvicorn alone (gunicorn's own default, 2 s, closed most members'
# connections between two autosaves; tests/durability/test_keep_alive.py).
keepalive = 5
# The app believes X-Forwarded-For only from FORWARDED_ALLOW_IPS, applied by itself (README, Configuration); the
# worker must not trust any proxy on its own (it would read the same variable, or trust 127.0.0.1 without it).
forwarded_allow_ips = ""
