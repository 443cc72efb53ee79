"""Intercept forwarder: receives the requests the intercept backend routed here (those carrying
the PR header), logs one line per request and passes it to the PR build's Service unchanged.
The log lines are what validate-intercepts counts. Config from env: LISTEN_PORT, TARGET_URL."""
import http.client
import http.server
import os
import sys
import urllib.parse

TARGET = urllib.parse.urlsplit(os.environ["TARGET_URL"])
HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"}


class Forward(http.server.BaseHTTPRequestHandler):
    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn = http.client.HTTPConnection(TARGET.hostname, TARGET.port or 80, timeout=60)
        try:
            conn.request(self.command, self.path, body or None, headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as exc:
            print(f"forward-error {self.command} {self.path}: {exc}", flush=True)
            self.send_error(502)
            return
        print(f"forwarded {self.command} {self.path} -> {resp.status}", flush=True)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

    def log_message(self, *args: object) -> None:  # one line per request is printed above
        pass


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("LISTEN_PORT", "18080"))), Forward)
    print(f"forwarding to {TARGET.geturl()}", flush=True)
    sys.exit(server.serve_forever())
