"""A local webhook receiver for the tests. Behaviour by path:
  /ok                200
  /fail-N            500 for the first N requests of a webhook-id, then 200
  /slow-N            sleeps 3 s for the first N requests of a webhook-id, then 200
  /retry-after-S     429 with Retry-After: S on the first request of a webhook-id, then 200
  /gone              410
  /redirect          302 to /ok (must not be followed)
  /delay-MS          200 after MS milliseconds
"""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, host="127.0.0.1"):
        self.hits = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    wid = self.headers.get("webhook-id")
                    n = sum(1 for h in outer.hits if h["headers"].get("webhook-id") == wid and h["path"] == self.path)
                    outer.hits.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                       "body": body, "at": time.monotonic()})
                p = self.path
                status, headers = 200, {}
                if p.startswith("/fail-") and n < int(p[6:]):
                    status = 500
                elif p.startswith("/slow-") and n < int(p[6:]):
                    time.sleep(3)
                elif p.startswith("/retry-after-") and n < 1:
                    status, headers = 429, {"Retry-After": p[13:]}
                elif p == "/gone":
                    status = 410
                elif p == "/redirect":
                    status, headers = 302, {"Location": "/ok"}
                elif p.startswith("/delay-"):
                    time.sleep(int(p[7:]) / 1000)
                data = b'{"received": true}'
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path, host="127.0.0.1"):
        return f"http://{host}:{self.port}{path}"

    def on(self, path):
        with self.lock:
            return [h for h in self.hits if h["path"] == path]

    def close(self):
        self.server.shutdown()
