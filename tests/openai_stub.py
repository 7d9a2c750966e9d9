"""A minimal OpenAI-compatible completions endpoint for fast tests (no model).

Every ``POST /v1/completions`` waits ``delay_s`` and answers " A" with fixed letter
log-probabilities and usage; ``received`` counts the requests that arrived.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLY = {
    "id": "stub",
    "object": "text_completion",
    "created": 0,
    "model": "stub",
    "choices": [
        {
            "index": 0,
            "text": " A",
            "finish_reason": "length",
            "logprobs": {
                "tokens": [" A"],
                "token_logprobs": [-0.5],
                "top_logprobs": [{" A": -0.5, " B": -1.5, " C": -2.5}],
                "text_offset": [0],
            },
        }
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
}


class CompletionsStub:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.received = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with stub._lock:
                    stub.received += 1
                time.sleep(stub.delay_s)
                body = json.dumps(REPLY).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client went away (interrupted)
                    self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
