"""gunicorn settings for several workers: ``gunicorn -c python:crm.gunicorn_config app:app``.

Each worker builds its own app and connection pool after the fork (no
``preload_app``: a pooled connection must never be shared by two processes).
Everything the workers must agree on lives outside them: the database, the
rate-limit store (``RATELIMIT_STORAGE_URI=redis://...``), the secret and the
encryption keys (the same on every host). Settings come from the environment:

* ``KARTOTEKA_BIND``: address to listen on [127.0.0.1:8000];
* ``WEB_CONCURRENCY``: worker processes [2 x CPU cores + 1];
* ``KARTOTEKA_THREADS``: threads per worker [4];
* ``KARTOTEKA_CERTFILE`` / ``KARTOTEKA_KEYFILE``: serve TLS directly; without
  them put a TLS-terminating proxy in front and set ``CRM_PROXY_FIX_HOPS``.
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("KARTOTEKA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Threads let a worker serve pages while another request waits on the database.
worker_class = "gthread"
threads = int(os.environ.get("KARTOTEKA_THREADS", 4))
# An export or an erasure of a large card stays well under this; a stuck request does not hold a worker forever.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
preload_app = False

certfile = os.environ.get("KARTOTEKA_CERTFILE") or None
keyfile = os.environ.get("KARTOTEKA_KEYFILE") or None

# Requests larger than the app accepts are refused by the app with a message; these
# only stop malformed HTTP early.
limit_request_line = 8190
limit_request_fields = 100

# The access log holds method, path, status, size and time: no query string (an
# address typed by hand could carry a search term) and no client address (the
# login history records addresses where they are needed).
accesslog = "-"
access_log_format = '"%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("KARTOTEKA_LOG_LEVEL", "info")
