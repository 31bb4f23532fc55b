#!/usr/bin/env python3
"""A token server for the distribution registry's token auth, for the image tests.

    token_server.py DIR USER:PASSWORD ISSUER

Listens on a free port of 127.0.0.1, writes the port to DIR/token-port once it accepts
connections, and answers GET /token?service=S&scope=T:NAME:ACTIONS[&scope=...] as
https://distribution.github.io/distribution/spec/auth/token/ describes: with HTTP basic
credentials equal to USER:PASSWORD, an RS256 JWT granting every requested action; without
credentials, a token granting nothing (so the registry refuses an anonymous pull); with wrong
credentials, 401.  Repositories under readonly/ are pull-only, even for USER.  The JWT is
signed with DIR/key.pem and carries DIR/cert.pem in its x5c header, which the registry checks
against its rootcertbundle (the same cert).  Every request is logged to DIR/token.log for the tests to look at: "alice|-|? SCOPE ..." (the right
credentials, none, wrong ones), the scopes and each one's actions sorted (the registry
lists them in no fixed order).
"""

import base64
import http.server
import json
import os
import ssl
import sys
import time
import urllib.parse
import uuid

import jwt


def sorted_actions(scope):
    name, _, actions = scope.rpartition(":")
    return name + ":" + ",".join(sorted(actions.split(",")))


def parse_scope(scope):
    # type:name:actions, where the name itself may hold a colon (a registry host with a port).
    typ, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not typ or not name:
        return None
    allowed = [a for a in actions.split(",") if a]
    if typ == "repository" and name.startswith("readonly/"):
        allowed = [a for a in allowed if a == "pull"]
    return {"type": typ, "name": name, "actions": allowed}


def main():
    directory, creds, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(os.path.join(directory, "key.pem"), "rb") as f:
        key = f.read()
    with open(os.path.join(directory, "cert.pem")) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    x5c = [base64.b64encode(der).decode()]
    want_basic = "Basic " + base64.b64encode(creds.encode()).decode()
    user = creds.split(":", 1)[0]
    log = open(os.path.join(directory, "token.log"), "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                return self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            query = urllib.parse.parse_qs(url.query)
            authz = self.headers.get("Authorization")
            scopes = [s for v in query.get("scope", []) for s in v.split(" ") if s]
            log.write("%s %s\n" % (user if authz == want_basic else ("-" if authz is None else "?"),
                                   " ".join(sorted(map(sorted_actions, scopes)))))
            if authz is not None and authz != want_basic:
                return self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                                    "message": "invalid username or password"}]},
                                  [("WWW-Authenticate", 'Basic realm="guise-test-token"')])
            access = []
            if authz is not None:
                access = [a for a in map(parse_scope, scopes) if a is not None]
            now = int(time.time())
            claims = {
                "iss": issuer,
                "sub": user if authz is not None else "",
                "aud": query.get("service", [""])[0],
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": uuid.uuid4().hex,
                "access": access,
            }
            token = jwt.encode(claims, key, algorithm="RS256", headers={"x5c": x5c})
            self.reply(200, {"token": token, "access_token": token, "expires_in": 300,
                             "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_file = os.path.join(directory, "token-port")
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
