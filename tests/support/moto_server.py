"""A moto server in its own process whose request handling is serialised, as DynamoDB
serialises the writes to one item.

moto's in-process DynamoDB is not atomic across threads (concurrent ADDs get lost), so tests of
concurrency run their client threads against this server: one request at a time, so anything
lost can only be lost by our code. Its own interpreter (and GIL) keeps the client threads from
slowing moto down.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

_SERVER = """
import logging, os, sys, threading
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
wsgi = server._server  # werkzeug's server: its .app is called once per request
inner, lock = wsgi.app, threading.Lock()
def one_at_a_time(environ, start_response):
    with lock:
        return list(inner(environ, start_response))
wsgi.app = one_at_a_time
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test closes our stdin
server.stop()
os._exit(0)  # no interpreter teardown: freeing moto's state takes seconds, and nothing is kept
"""


@contextlib.contextmanager
def serialised_moto_server() -> Iterator[str]:
    """Start the server; yields its endpoint URL; stops it on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    try:
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
