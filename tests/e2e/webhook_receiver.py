"""A webhook receiver that keeps what it receives, for the end-to-end test (docker-compose.yml runs it).

    python webhook_receiver.py [--host 127.0.0.1] [--port 8080]

POST/PUT <path>   stores {"path": <path>, "payload": <the JSON body>} (Grafana's webhook contact point)
GET /received     every stored request, oldest first, as a JSON list
DELETE /received  forgets them

Standard library only, so that the stock python image runs it from a read-only mount.
"""
from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECEIVED = "/received"


class Store:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[dict] = []

    def add(self, item: dict) -> None:
        with self._lock:
            self._items.append(item)

    def all(self) -> list[dict]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def handler(store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: object = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                payload = json.loads(raw or b"null")
            except ValueError:
                self._reply(400, {"error": "the body is not JSON"})
                return
            store.add({"path": self.path, "payload": payload})
            self._reply(200, {"stored": True})

        do_PUT = do_POST

        def do_GET(self) -> None:  # noqa: N802
            if self.path == RECEIVED:
                self._reply(200, store.all())
            elif self.path == "/health":
                self._reply(200, {"ok": True})
            else:
                self._reply(404, {"error": f"GET {RECEIVED} or /health"})

        def do_DELETE(self) -> None:  # noqa: N802
            if self.path != RECEIVED:
                self._reply(404, {"error": f"DELETE {RECEIVED}"})
                return
            store.clear()
            self._reply(200, {"cleared": True})

        def log_message(self, format: str, *args: object) -> None:  # one line per request on stderr
            super().log_message(format, *args)

    return Handler


def serve(host: str, port: int) -> ThreadingHTTPServer:
    """The server, bound and ready; call serve_forever() (or run it in a thread) and shutdown()."""
    return ThreadingHTTPServer((host, port), handler(Store()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = serve(args.host, args.port)
    print(f"webhook receiver on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
