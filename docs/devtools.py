"""The minimum of the Chrome DevTools protocol that the browser checks in docs/ share
(``check_report.py``, ``check_jupyterlab.py``): a free port, waiting for a URL, and a page
that calls methods and evaluates JavaScript."""
from __future__ import annotations

import json
import socket
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float, pause: float = 0.3) -> bytes:
    deadline = time.time() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            if time.time() > deadline:
                raise TimeoutError(f"no answer from {url} within {seconds:.0f} s") from None
            time.sleep(pause)


class Page:
    """Call a DevTools method, evaluate JavaScript.  ``strict``: a script that throws raises
    (else its value is None)."""

    def __init__(self, ws_url: str, strict: bool = False):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.strict = strict

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if self.strict and "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")
