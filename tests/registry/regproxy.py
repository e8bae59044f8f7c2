#!/usr/bin/env python3
"""Test proxies in front of a plain HTTP docker-registry, for gsi's registry tests (stdlib only).

  regproxy.py token --listen PORT --upstream HOST:PORT --user U --password P
      A Bearer token service and an auth proxy in one: GET /token?service=&scope=... hands out tokens
      (Basic auth checked; anonymous callers get pull-only tokens), every other request needs a token
      valid for the repository scope it touches, else 401 with a Bearer challenge.  Requests that pass
      are forwarded, streaming, to the upstream registry.
      Control: GET /_ctl (JSON counters), POST /_ctl/reset, POST /_ctl {"expires_in": N,
      "anonymous_pull": bool}.

  regproxy.py fault --listen PORT --upstream HOST:PORT
      A proxy that injects faults into what the registry answers.  Its behaviour is set through
      POST /_fault with a JSON object:
        {"mode": "pass"}                                  forward everything (the default)
        {"mode": "corrupt", "count": N}                   flip one byte in the middle of blob bodies
        {"mode": "truncate", "count": N}                  send half a blob body under the full
                                                          Content-Length, then close cleanly
        {"mode": "drop", "count": N}                      send half a blob body, then reset the
                                                          connection (RST)
        {"mode": "status", "code": 500, "count": N}       answer CODE instead of forwarding
        {"mode": "status", "code": 429, "retry_after": S, "count": N}
      "count" is how many matching requests get the fault (-1: all; default -1, 1 for drop); after
      that the proxy passes.  "match" selects the requests: "blob" (GET/HEAD of /v2/*/blobs/<digest>,
      the default), "manifest" (GET/HEAD of /v2/*/manifests/*), "any"; "path", when given, is a
      string the request path must contain (a digest, to aim at one blob).  The body faults only
      apply to answers with a body (GET, status 200).
      GET /_fault returns the settings, "injected" (faults done) and "requests" (every /v2 request
      seen: method, path, query, status sent, fault, start and end times); POST /_fault/reset
      clears the request log and the counters.
"""

import argparse
import base64
import http.client
import http.server
import json
import re
import secrets
import socket
import struct
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade"}
CHUNK = 256 * 1024

BLOB_RE = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64}|[a-z0-9]+:[A-Za-z0-9=_-]+)$")
MANIFEST_RE = re.compile(r"^/v2/(.+)/manifests/([^/]+)$")
REPO_RE = re.compile(r"^/v2/(.+)/(blobs|manifests|tags)/")


class Upstream:
    """One keep-alive connection to the upstream registry per client connection."""

    def __init__(self, hostport):
        self.hostport = hostport
        self.conn = None

    def request(self, method, path, headers, body_iter):
        for attempt in (0, 1):
            if self.conn is None:
                host, port = self.hostport.rsplit(":", 1)
                self.conn = http.client.HTTPConnection(host, int(port), timeout=300)
            try:
                self.conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    self.conn.putheader(k, v)
                self.conn.endheaders()
                sent_body = False
                for chunk in body_iter:
                    sent_body = True
                    self.conn.send(chunk)
                return self.conn.getresponse()
            except (ConnectionError, http.client.HTTPException, OSError):
                # A kept-alive upstream connection the registry closed: retry once on a new one,
                # unless the body is already (partly) consumed.
                self.close()
                if attempt or sent_body:
                    raise
                continue
        raise ConnectionError("upstream unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gsi-test-proxy"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.server.kind, fmt % args))

    def setup(self):
        super().setup()
        self.upstream = Upstream(self.server.upstream)

    def finish(self):
        try:
            super().finish()
        finally:
            self.upstream.close()

    # --- request body -------------------------------------------------------------------------------

    def body_chunks(self):
        """Yields the request body, de-chunked when the client sent it chunked."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    data = self.rfile.read(min(left, CHUNK))
                    if not data:
                        raise ConnectionError("client body ended early")
                    left -= len(data)
                    yield data
                self.rfile.readline(3)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                data = self.rfile.read(min(left, CHUNK))
                if not data:
                    raise ConnectionError("client body ended early")
                left -= len(data)
                yield data

    def drain_body(self):
        for _ in self.body_chunks():
            pass

    def upstream_headers(self, chunked_body):
        out = []
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk == "content-length":
                continue
            if lk == "authorization" and self.server.kind == "token":
                continue  # the upstream registry is anonymous; the token is ours
            out.append((k, v))
        if chunked_body:
            out.append(("Content-Length", str(self.pending_length)))
        return out

    # --- answers ------------------------------------------------------------------------------------

    def send_json(self, code, obj, extra=()):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def registry_error(self, code, errcode, message, extra=()):
        self.send_json(code, {"errors": [{"code": errcode, "message": message, "detail": None}]}, extra)

    def forward(self, fault=None):
        """Forwards the request to the upstream registry and streams the answer back.  fault, when
        given, is (kind) applied to the response body: corrupt, truncate or drop.  Returns the status."""
        method = self.command
        te = self.headers.get("Transfer-Encoding", "")
        chunked = "chunked" in te.lower()
        if chunked:
            # The registry reads the body by length: buffer de-chunked PATCH/PUT bodies (test sizes).
            body = b"".join(self.body_chunks())
            self.pending_length = len(body)
            body_iter = iter([body]) if body else iter(())
        else:
            length = self.headers.get("Content-Length")
            body_iter = self.body_chunks()
        headers = self.upstream_headers(chunked)
        if not chunked and length is not None:
            headers.append(("Content-Length", length))
        try:
            resp = self.upstream.request(method, self.path, headers, body_iter)
        except (ConnectionError, OSError, http.client.HTTPException) as e:
            self.registry_error(502, "UNKNOWN", "proxy: upstream failed: %s" % e)
            return 502

        status = resp.status
        length = resp.getheader("Content-Length")
        has_body = method != "HEAD" and status not in (204, 304) and not (100 <= status < 200)
        if fault and not (has_body and status == 200 and length is not None and int(length) > 0):
            fault = None  # nothing to damage: pass this one
        self.fault_applied = fault
        if fault:
            self.server.note_injected()
        self.send_response(status)
        for k, v in resp.getheaders():
            if k.lower() in HOP_BY_HOP:
                continue
            self.send_header(k, v)
        if has_body and length is None:
            self.send_header("Transfer-Encoding", "chunked")
        if fault in ("truncate", "drop"):
            self.send_header("Connection", "close")
        self.end_headers()
        if not has_body:
            resp.read()
            return status

        if length is None:
            while True:
                data = resp.read(CHUNK)
                if not data:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
            return status

        total = int(length)
        if total == 0:
            # Read (and so close) the empty answer: http.client refuses the next request on this
            # keep-alive upstream connection while a response is still open.
            resp.read()
            return status
        half = total // 2
        sent = 0
        while sent < total:
            data = resp.read(min(CHUNK, total - sent))
            if not data:
                break
            if fault == "corrupt" and sent <= half < sent + len(data):
                b = bytearray(data)
                b[half - sent] ^= 0x5A
                data = bytes(b)
            if fault in ("truncate", "drop") and sent + len(data) > half:
                self.wfile.write(data[: half - sent])
                self.wfile.flush()
                self.upstream.close()
                if fault == "drop":
                    # SO_LINGER 0: close() sends a RST, as a dropped connection does.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                else:
                    self.connection.shutdown(socket.SHUT_WR)
                self.close_connection = True
                return status
            self.wfile.write(data)
            sent += len(data)
        return status

    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET


# --- token service + auth proxy -----------------------------------------------------------------------

class TokenHandler(ProxyHandler):

    def dispatch(self):
        srv = self.server
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/token":
            return self.token(url)
        if url.path.startswith("/_ctl"):
            return self.control(url.path)
        if not url.path.startswith("/v2"):
            self.drain_body()
            return self.send_json(404, {"error": "not found"})
        need = self.needed_scopes(url)
        granted = self.granted()
        missing = [s for s in need if not granted_covers(granted, s)]
        if granted is None or missing:
            self.drain_body()
            with srv.lock:
                srv.stats["challenges"] += 1
            chal = 'Bearer realm="http://%s/token",service="%s"' % (srv.public, srv.service)
            if need:
                chal += ',scope="%s"' % " ".join(
                    "repository:%s:%s" % (repo, ",".join(acts)) for repo, acts in need)
            if granted is not None:
                chal += ',error="insufficient_scope"'
            return self.registry_error(401, "UNAUTHORIZED", "authentication required",
                                       [("WWW-Authenticate", chal),
                                        ("Docker-Distribution-API-Version", "registry/2.0")])
        with srv.lock:
            srv.stats["forwarded"] += 1
        self.forward()

    def needed_scopes(self, url):
        return needed_scopes(self.command, url)

    def granted(self):
        """The scopes of the request's valid Bearer token, None when it has none."""
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        tok = auth[7:].strip()
        srv = self.server
        with srv.lock:
            entry = srv.tokens.get(tok)
            if entry is None:
                srv.stats["bad_tokens"] += 1
                return None
            scopes, expiry = entry
            if time.time() >= expiry:
                srv.stats["expired_tokens"] += 1
                return None
            srv.stats["token_uses"] += 1
        return scopes

    def token(self, url):
        srv = self.server
        self.drain_body()
        q = urllib.parse.parse_qs(url.query)
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, pw = "", None
            if user != srv.user or pw != srv.password:
                with srv.lock:
                    srv.stats["token_denied"] += 1
                return self.send_json(401, {"errors": [{"code": "UNAUTHORIZED",
                                                        "message": "invalid username or password"}]},
                                      [("WWW-Authenticate", 'Basic realm="gsi-test-token"')])
        if q.get("service", [srv.service])[0] != srv.service:
            return self.send_json(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
        granted = []
        for s in " ".join(q.get("scope", [])).split():
            parts = s.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            repo, acts = ":".join(parts[1:-1]), set(parts[-1].split(","))
            if user is None:
                if not srv.anonymous_pull:
                    acts = set()
                acts &= {"pull"}
            else:
                acts &= {"pull", "push", "delete", "*"}
            if acts:
                granted.append((repo, frozenset(acts)))
        tok = secrets.token_hex(24)
        now = time.time()
        with srv.lock:
            srv.tokens[tok] = (granted, now + srv.expires_in)
            srv.stats["token_fetches"] += 1
            srv.stats["fetches"].append({"user": user, "scope": q.get("scope", []),
                                         "granted": [[r, sorted(a)] for r, a in granted]})
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        self.send_json(200, {"token": tok, "access_token": tok, "expires_in": srv.expires_in,
                             "issued_at": issued})

    def control(self, path):
        srv = self.server
        if self.command == "GET":
            with srv.lock:
                out = dict(srv.stats, expires_in=srv.expires_in, anonymous_pull=srv.anonymous_pull)
            return self.send_json(200, out)
        body = b"".join(self.body_chunks())
        with srv.lock:
            if path == "/_ctl/reset":
                srv.reset_stats()
            else:
                cfg = json.loads(body or b"{}")
                srv.expires_in = int(cfg.get("expires_in", srv.expires_in))
                srv.anonymous_pull = bool(cfg.get("anonymous_pull", srv.anonymous_pull))
                if cfg.get("revoke"):
                    srv.tokens.clear()
        self.send_json(200, {"ok": True})


def granted_covers(granted, need):
    if granted is None:
        return False
    repo, acts = need
    have = set()
    for r, a in granted:
        if r == repo:
            have |= a
    return "*" in have or set(acts) <= have


def needed_scopes(method, url):
    """The (repository, actions) a /v2 request needs, like distribution's access records."""
    path = url.path
    m = REPO_RE.match(path) or re.match(r"^/v2/(.+)/(blobs)/uploads/?$", path) \
        or re.match(r"^/v2/(.+)/(tags)/list$", path)
    if not m:
        return []  # /v2/ and /v2/_catalog: any valid token
    repo = m.group(1)
    if path.endswith("/blobs/uploads") or path.endswith("/blobs/uploads/"):
        repo = path[len("/v2/"):].rsplit("/blobs/uploads", 1)[0]
    elif "/blobs/uploads/" in path:
        repo = path[len("/v2/"):].split("/blobs/uploads/", 1)[0]
    if method in ("GET", "HEAD"):
        need = [(repo, ("pull",))]
    elif method == "DELETE":
        need = [(repo, ("delete",))]
    else:
        need = [(repo, ("pull", "push"))]
    q = urllib.parse.parse_qs(url.query)
    if method == "POST" and "mount" in q and "from" in q:
        need.append((q["from"][0], ("pull",)))
    return need


# --- fault proxy --------------------------------------------------------------------------------------

class FaultHandler(ProxyHandler):

    def dispatch(self):
        srv = self.server
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/_fault"):
            return self.control(url.path)
        self.fault_applied = None
        start = round(time.time(), 3)
        kind = "other"
        if BLOB_RE.match(url.path) and self.command in ("GET", "HEAD"):
            kind = "blob"
        elif MANIFEST_RE.match(url.path) and self.command in ("GET", "HEAD"):
            kind = "manifest"
        fault = srv.take_fault(kind, self.command, url.path)
        if fault and fault["mode"] == "status":
            self.drain_body()
            extra = []
            if fault.get("retry_after") is not None:
                extra.append(("Retry-After", str(fault["retry_after"])))
            code = int(fault.get("code", 500))
            self.registry_error(code, "TOOMANYREQUESTS" if code == 429 else "UNKNOWN",
                                "injected fault: status %d" % code, extra)
            status = code
            self.fault_applied = "status"
            srv.note_injected()
        else:
            status = self.forward(fault["mode"] if fault else None)
        with srv.lock:
            srv.requests.append({"method": self.command, "path": url.path, "query": url.query,
                                 "status": status, "fault": self.fault_applied, "start": start,
                                 "end": round(time.time(), 3)})

    def control(self, path):
        srv = self.server
        if self.command == "GET":
            with srv.lock:
                out = dict(srv.fault, injected=srv.injected, requests=list(srv.requests))
            return self.send_json(200, out)
        body = b"".join(self.body_chunks())
        with srv.lock:
            if path == "/_fault/reset":
                srv.requests.clear()
                srv.injected = 0
            else:
                cfg = json.loads(body or b"{}")
                mode = cfg.get("mode", "pass")
                if mode not in ("pass", "corrupt", "truncate", "drop", "status"):
                    return self.send_json(400, {"error": "unknown mode %r" % mode})
                cfg.setdefault("count", 1 if mode == "drop" else -1)
                cfg.setdefault("match", "blob")
                srv.fault = cfg
                srv.injected = 0
        self.send_json(200, {"ok": True})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, args):
        super().__init__(addr, handler)
        self.kind = args.kind
        self.upstream = args.upstream
        self.verbose = args.verbose
        self.lock = threading.Lock()
        self.public = "%s:%d" % (addr[0], addr[1])
        # token
        self.user = args.user
        self.password = args.password
        self.service = args.service
        self.expires_in = args.expires_in
        self.anonymous_pull = True
        self.tokens = {}
        self.reset_stats()
        # fault
        self.fault = {"mode": "pass", "count": -1, "match": "any"}
        self.injected = 0
        self.requests = []

    def reset_stats(self):
        self.stats = {"token_fetches": 0, "token_denied": 0, "token_uses": 0, "bad_tokens": 0,
                      "expired_tokens": 0, "challenges": 0, "forwarded": 0, "fetches": []}

    def take_fault(self, kind, method, path):
        with self.lock:
            f = self.fault
            if f["mode"] == "pass" or f["count"] == 0:
                return None
            if f["match"] != "any" and f["match"] != kind:
                return None
            if f.get("path") and f["path"] not in path:
                return None
            if f["mode"] != "status" and method != "GET":
                return None
            if f["count"] > 0:
                f["count"] -= 1
            return dict(f)

    def note_injected(self):
        with self.lock:
            self.injected += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("token", "fault"))
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--user", default="gsi")
    ap.add_argument("--password", default="")
    ap.add_argument("--service", default="gsi-test")
    ap.add_argument("--expires-in", type=int, default=300)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    handler = TokenHandler if args.kind == "token" else FaultHandler
    srv = Server(("127.0.0.1", args.listen), handler, args)
    srv.serve_forever()


if __name__ == "__main__":
    main()
