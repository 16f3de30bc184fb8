"""A CloudFront stand-in: serves the site bucket and sends ``/api/*`` to the views function.

It does what the ``Distribution`` of template.yaml does, in the same order:

* the viewer-request function's index rewrite (``/x/`` and ``/x`` without an extension ->
  ``x/index.html``, ``/`` -> ``index.html``);
* the site bucket origin: the stored ``Content-Type``, ``Cache-Control`` and ``ETag``;
  ``_internal/*`` is denied to CloudFront by the bucket policy (403);
* the custom error responses: 403 and 404, from the bucket *or* the API, become the
  ``/404.html`` page with status 404;
* ``/api/*`` to the HTTP API, whose routes come from the functions' ``HttpApi`` events; a
  matched route invokes its function with a payload format 2.0 event, an unmatched one is
  API Gateway's own 404;
* the response headers policy (CSP, nosniff, frame and referrer policy, HSTS) on every answer,
  read from the template so that a page breaking the CSP breaks locally too; the one of the
  cache behaviour the path falls in (``/media/*``: the sandboxing ``MediaHeadersPolicy``);
* the stored ``Content-Disposition`` (active media are ``attachment``);
* the ``/preview/*`` behaviour (signed draft previews): the viewer-request function's expiry
  check (410 once the Unix time in the URL has passed, the same regular expression as
  ``PreviewRequestFunction``) and its response headers policy's custom headers (X-Robots-Tag).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import fnmatch
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.exceptions import ClientError

from chainpress_dev.local.endpoint import ACCOUNT_ID, REGION
from chainpress_dev.local.functions import FunctionError, LocalFunction
from chainpress_dev.local.plumbing import Reporter
from chainpress_dev.local.template import FUNCTION, resources_of_type

INTERNAL_PREFIX = "_internal/"
NOT_FOUND_PAGE = "404.html"
PREVIEW_PATH = "/preview/"
# PreviewRequestFunction's test, in Python: /preview/<expires>-<128-bit hex MAC>/...
_PREVIEW_URI = re.compile(r"^/preview/(\d{1,12})-[0-9a-f]{32}/")
API_PREFIX = "/api/"
API_ID = "localapi"


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """One HTTP API route, e.g. ``POST /api/views/{slug}``."""

    method: str
    path: str

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in {method, "ANY"}:
            return None
        found = re.fullmatch(self._regex(), path)
        return None if found is None else dict(found.groupdict())

    def _regex(self) -> str:
        out = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{") and part.endswith("+}"):
                out += f"(?P<{part[1:-2]}>.+)"
            elif part.startswith("{"):
                out += f"(?P<{part[1:-1]}>[^/]+)"
            else:
                out += re.escape(part)
        return out


def api_routes(template: Mapping[str, Any]) -> list[tuple[Route, str]]:
    """Every ``HttpApi`` event of every function: (route, function logical ID)."""
    routes: list[tuple[Route, str]] = []
    for logical_id, resource in resources_of_type(template, FUNCTION).items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == "HttpApi":
                props = event["Properties"]
                route = Route(str(props.get("Method", "ANY")).upper(), str(props["Path"]))
                routes.append((route, logical_id))
    # API Gateway prefers the most specific route: literal paths before parameters.
    return sorted(routes, key=lambda item: ("{" in item[0].path, -len(item[0].path)))


def _policy_id(behaviour: Mapping[str, Any]) -> str | None:
    ref = behaviour.get("ResponseHeadersPolicyId")
    return str(ref["Ref"]) if isinstance(ref, Mapping) and "Ref" in ref else None


def behaviour_headers(template: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """The ``Distribution``'s cache behaviours with the headers of their response headers
    policy, in CloudFront's order: ``(PathPattern, headers)`` for each ``CacheBehaviors`` entry,
    then ``("*", ...)`` for the default behaviour."""
    out: list[tuple[str, dict[str, str]]] = []
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::CloudFront::Distribution":
            continue
        config = resource["Properties"]["DistributionConfig"]
        for behaviour in config.get("CacheBehaviors", []):
            policy = _policy_id(behaviour)
            if policy is not None:
                out.append((str(behaviour["PathPattern"]), security_headers(template, policy)))
        policy = _policy_id(config.get("DefaultCacheBehavior", {}))
        if policy is not None:
            out.append(("*", security_headers(template, policy)))
    return out


def headers_for(behaviours: Sequence[tuple[str, Mapping[str, str]]], path: str) -> dict[str, str]:
    """The headers of the first behaviour whose path pattern matches ``path`` (``*`` matches
    any run of characters, ``/`` included, as in CloudFront)."""
    for pattern, headers in behaviours:
        if fnmatch.fnmatchcase(path, pattern):
            return dict(headers)
    return {}


def security_headers(template: Mapping[str, Any], policy: str | None = None) -> dict[str, str]:
    """Headers of the template's ``AWS::CloudFront::ResponseHeadersPolicy`` (security part):
    the one named ``policy`` (its logical ID), or the default behaviour's."""
    if policy is None:
        defaults = [h for pattern, h in behaviour_headers(template) if pattern == "*"]
        if defaults:
            return defaults[0]
    headers: dict[str, str] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::CloudFront::ResponseHeadersPolicy":
            continue
        if policy is not None and logical_id != policy:
            continue
        config = resource["Properties"]["ResponseHeadersPolicyConfig"]
        security = config.get("SecurityHeadersConfig", {})
        if "StrictTransportSecurity" in security:
            sts = security["StrictTransportSecurity"]
            value = f"max-age={int(sts['AccessControlMaxAgeSec'])}"
            if str(sts.get("IncludeSubdomains", "")).lower() == "true":
                value += "; includeSubDomains"
            if str(sts.get("Preload", "")).lower() == "true":
                value += "; preload"
            headers["Strict-Transport-Security"] = value
        if "ContentSecurityPolicy" in security:
            csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]
            headers["Content-Security-Policy"] = " ".join(str(csp).split())
        if "ContentTypeOptions" in security:
            headers["X-Content-Type-Options"] = "nosniff"
        if "ReferrerPolicy" in security:
            headers["Referrer-Policy"] = str(security["ReferrerPolicy"]["ReferrerPolicy"])
        if "FrameOptions" in security:
            headers["X-Frame-Options"] = str(security["FrameOptions"]["FrameOption"])
        if "XSSProtection" in security:
            xss = security["XSSProtection"]
            on = str(xss.get("Protection", "")).lower() == "true"
            value = "1" if on else "0"
            if on and str(xss.get("ModeBlock", "")).lower() == "true":
                value += "; mode=block"
            headers["X-XSS-Protection"] = value
    return headers


_SECRET_REFERENCE = re.compile(r"\{\{resolve:secretsmanager:\$\{(\w+)\}:SecretString\}\}")


def api_origin_headers(
    template: Mapping[str, Any], read_secret: Callable[[str], str], names: Mapping[str, str]
) -> dict[str, str]:
    """The ``OriginCustomHeaders`` of the Distribution's ``api`` origin, with their
    ``{{resolve:secretsmanager:${Secret}:SecretString}}`` references read (``read_secret``
    of the secret's ARN, from ``names``), as CloudFront sends them to the HTTP API."""
    out: dict[str, str] = {}
    for resource in resources_of_type(template, "AWS::CloudFront::Distribution").values():
        for origin in resource["Properties"]["DistributionConfig"].get("Origins", []):
            if origin.get("Id") != "api":
                continue
            for header in origin.get("OriginCustomHeaders", []):
                value = header["HeaderValue"]
                if isinstance(value, Mapping) and "Fn::Sub" in value:
                    found = _SECRET_REFERENCE.fullmatch(str(value["Fn::Sub"]))
                    if found is None:
                        raise ValueError(f"cannot resolve origin header value {value!r}")
                    value = read_secret(names[found.group(1)])
                out[str(header["HeaderName"]).lower()] = str(value)
    return out


def custom_headers(template: Mapping[str, Any], path_pattern: str) -> dict[str, str]:
    """The custom headers (``CustomHeadersConfig``) of the response headers policy that the
    Distribution's cache behaviour for ``path_pattern`` uses."""
    resources = template.get("Resources", {})
    for resource in resources.values():
        if resource.get("Type") != "AWS::CloudFront::Distribution":
            continue
        config = resource["Properties"]["DistributionConfig"]
        for behaviour in config.get("CacheBehaviors", []):
            policy = behaviour.get("ResponseHeadersPolicyId")
            if behaviour.get("PathPattern") != path_pattern or not isinstance(policy, dict):
                continue
            found = resources.get(policy.get("Ref", ""), {}).get("Properties", {})
            custom = found.get("ResponseHeadersPolicyConfig", {}).get("CustomHeadersConfig", {})
            return {str(h["Header"]): str(h["Value"]) for h in custom.get("Items", [])}
    return {}


def preview_expired(path: str, now: float) -> bool:
    """What PreviewRequestFunction answers 410 for: not a signed preview path, or expired."""
    found = _PREVIEW_URI.match(path)
    return found is None or int(found[1]) <= now


def site_key(path: str) -> str:
    """The viewer-request rewrite, on a decoded path: which object a URL path reads."""
    if path.endswith("/"):
        path += "index.html"
    elif path.rfind(".") <= path.rfind("/"):
        path += "/index.html"
    return path.lstrip("/")


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Edge:
    """What the request handler needs: origins, routes and headers (shared by all threads)."""

    def __init__(
        self,
        s3: Any,
        site_bucket: str,
        routes: Sequence[tuple[Route, LocalFunction]],
        headers: Mapping[str, str],
        report: Reporter,
        *,
        cors_origins: Sequence[str] = (),
        log_requests: bool = False,
        behaviours: Sequence[tuple[str, Mapping[str, str]]] = (),
        origin_headers: Mapping[str, str] | None = None,
        preview_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.preview_headers = dict(preview_headers or {})
        self.s3 = s3
        self.site_bucket = site_bucket
        self.routes = list(routes)
        self.headers = dict(headers)
        # (path pattern, headers) of the cache behaviours (``behaviour_headers``): a path
        # they match gets those headers instead of ``headers`` (the default behaviour's).
        self.behaviours = list(behaviours)
        # Added to every request to the HTTP API (the api origin's OriginCustomHeaders).
        self.origin_headers = dict(origin_headers or {})
        self.report = report
        self.cors_origins = [o for o in cors_origins if o]
        self.log_requests = log_requests
        self.requests = 0

    # ------------------------------------------------------------------ site bucket origin

    def site(self, path: str, request_headers: Mapping[str, str]) -> Answer:
        if path.startswith(PREVIEW_PATH):
            return self.preview(path, request_headers)
        key = site_key(unquote(path, errors="replace"))
        if key.startswith(INTERNAL_PREFIX):
            return self.error_page(403)  # the bucket policy denies CloudFront _internal/*
        try:
            obj = self.s3.get_object(Bucket=self.site_bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"NoSuchKey", "404", "NotFound", "AccessDenied", "403"}:
                return self.error_page(404 if code != "AccessDenied" else 403)
            raise
        body: bytes = obj["Body"].read()
        etag = str(obj.get("ETag", ""))
        headers = {
            "Content-Type": str(obj.get("ContentType") or "binary/octet-stream"),
            "ETag": etag,
        }
        if obj.get("CacheControl"):
            headers["Cache-Control"] = str(obj["CacheControl"])
        if obj.get("ContentDisposition"):
            headers["Content-Disposition"] = str(obj["ContentDisposition"])
        modified = obj.get("LastModified")
        if isinstance(modified, dt.datetime):
            headers["Last-Modified"] = formatdate(modified.timestamp(), usegmt=True)
        if etag and request_headers.get("if-none-match", "") == etag:
            return Answer(304, headers, b"")
        return Answer(200, headers, body)

    def preview(self, path: str, request_headers: Mapping[str, str]) -> Answer:
        """The ``/preview/*`` behaviour: 410 past the expiry in the URL, else the page with the
        behaviour's custom headers (CachingDisabled: nothing is cached here anyway)."""
        if preview_expired(path, time.time()):
            headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
            headers.update(self.preview_headers)
            return Answer(410, headers, b"This preview link has expired or is not valid.\n")
        key = path.lstrip("/") + ("index.html" if path.endswith("/") else "")
        answer = self._object(key, request_headers)
        answer.headers.update(self.preview_headers)
        return answer

    def _object(self, key: str, request_headers: Mapping[str, str]) -> Answer:
        try:
            obj = self.s3.get_object(Bucket=self.site_bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"NoSuchKey", "404", "NotFound", "AccessDenied", "403"}:
                return self.error_page(404)
            raise
        headers = {
            "Content-Type": str(obj.get("ContentType") or "binary/octet-stream"),
            "ETag": str(obj.get("ETag", "")),
        }
        if obj.get("CacheControl"):
            headers["Cache-Control"] = str(obj["CacheControl"])
        if headers["ETag"] and request_headers.get("if-none-match", "") == headers["ETag"]:
            return Answer(304, headers, b"")
        return Answer(200, headers, obj["Body"].read())

    def error_page(self, origin_status: int) -> Answer:
        """CloudFront's custom error response: 403 and 404 serve /404.html with status 404."""
        del origin_status  # both map to the same page and status
        try:
            obj = self.s3.get_object(Bucket=self.site_bucket, Key=NOT_FOUND_PAGE)
        except ClientError:
            return Answer(404, {"Content-Type": "text/plain; charset=utf-8"}, b"Not Found\n")
        return Answer(
            404,
            {"Content-Type": str(obj.get("ContentType") or "text/html; charset=utf-8")},
            obj["Body"].read(),
        )

    # ------------------------------------------------------------------ HTTP API origin

    def api(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Mapping[str, str],
        body: bytes,
        client_ip: str,
    ) -> Answer:
        # HTTP APIs hand the function a decoded path (rawPath) and decoded path parameters.
        path = unquote(raw_path, errors="replace")
        if method == "OPTIONS" and "access-control-request-method" in headers:
            return self._preflight(headers)
        found = self._route(method, path)
        if found is None:
            return self._api_error(404, {"message": "Not Found"})
        route, function, params = found
        # CloudFront sets its origin custom headers (a viewer's own copy is replaced).
        headers = {**headers, **self.origin_headers}
        event = http_api_event(
            route, params, method, path, raw_query, headers, body, client_ip, self.api_host
        )
        try:
            result = function.invoke(event)
        except FunctionError as exc:
            self.report(str(exc))
            return self._api_error(500, {"message": "Internal Server Error"})
        answer = http_api_answer(result)
        if answer.status in {403, 404}:
            return self.error_page(answer.status)
        return answer

    def _route(self, method: str, path: str) -> tuple[Route, LocalFunction, dict[str, str]] | None:
        for route, function in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, function, params
        return None

    @property
    def api_host(self) -> str:
        return f"{API_ID}.execute-api.{REGION}.amazonaws.com"

    def _api_error(self, status: int, payload: Mapping[str, str]) -> Answer:
        if status in {403, 404}:
            return self.error_page(status)
        body = json.dumps(payload).encode()
        return Answer(status, {"Content-Type": "application/json"}, body)

    def _preflight(self, headers: Mapping[str, str]) -> Answer:
        """API Gateway answers CORS preflights itself (the function never sees OPTIONS)."""
        origin = headers.get("origin", "")
        out: dict[str, str] = {}
        if origin and origin in self.cors_origins:
            out = {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET,POST,OPTIONS",
                "Access-Control-Allow-Headers": "content-type",
                "Access-Control-Max-Age": "600",
            }
        return Answer(204, out, b"")


def http_api_event(
    route: Route,
    params: Mapping[str, str],
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    client_ip: str,
    api_host: str,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as the views function receives it."""
    now = time.time()
    lower = {k.lower(): v for k, v in headers.items()}
    # CloudFront forwards every viewer header but Host (AllViewerExceptHostHeader); API Gateway
    # then sets its own host and forwarding headers.
    lower.pop("host", None)
    lower["host"] = api_host
    lower["x-forwarded-for"] = client_ip
    lower["x-forwarded-proto"] = "https"
    lower["x-forwarded-port"] = "443"
    lower.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}")
    cookies = [c.strip() for c in lower.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    content_type = lower.get("content-type", "")
    textual = (
        not body
        or content_type.startswith("text/")
        or any(
            kind in content_type for kind in ("json", "xml", "x-www-form-urlencoded", "javascript")
        )
    )
    try:
        text = body.decode("utf-8") if textual else None
    except UnicodeDecodeError:
        text = None
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": lower,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": api_host,
            "domainPrefix": api_host.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": client_ip,
                "userAgent": lower.get("user-agent", ""),
            },
            "requestId": base64.b32encode(uuid.uuid4().bytes)[:16].decode(),
            "routeKey": route.key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": text is None,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = dict(params)
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
    return event


def http_api_answer(result: Any) -> Answer:
    """How API Gateway turns a function's answer (payload format 2.0) into an HTTP response."""
    if not (isinstance(result, Mapping) and "statusCode" in result):
        # No statusCode: API Gateway assumes 200 and the whole answer, as JSON, is the body.
        return Answer(200, {"Content-Type": "application/json"}, json.dumps(result).encode())
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    raw = result.get("body") or ""
    encoded = bool(result.get("isBase64Encoded"))
    body = base64.b64decode(str(raw)) if encoded else str(raw).encode("utf-8")
    answer = Answer(int(result["statusCode"]), headers, body)
    cookies = result.get("cookies") or []
    if cookies:
        # Several Set-Cookie lines cannot live in a dict; they are joined in one header value.
        answer.headers["Set-Cookie"] = ", ".join(str(c) for c in cookies)
    return answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], edge: Edge) -> None:
        self.edge = edge
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chainpress-local"
    timeout = 10  # idle keep-alive connections do not hold a thread for ever
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def _handle(self) -> None:
        edge = self.server.edge
        edge.requests += 1
        method = self.command
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            if parts.path.startswith(API_PREFIX):
                answer = edge.api(
                    method, parts.path, parts.query, headers, body, self.client_address[0]
                )
            elif method in {"GET", "HEAD"}:
                answer = edge.site(parts.path, headers)
            else:
                # The default behaviour only allows GET and HEAD.
                answer = Answer(405, {"Allow": "GET, HEAD", "Content-Type": "text/plain"}, b"")
        except Exception as exc:  # an origin failure is a 502, as CloudFront shows it
            edge.report(f"edge: {method} {self.path} failed: {exc!r}")
            answer = Answer(502, {"Content-Type": "text/plain; charset=utf-8"}, b"Bad Gateway\n")
        self._send(answer, head=method == "HEAD", path=parts.path)

    def _send(self, answer: Answer, *, head: bool, path: str = "/") -> None:
        self.send_response(answer.status)  # also sends Server and Date
        merged = {name.lower(): (name, value) for name, value in answer.headers.items()}
        # The response headers policy overrides what the origin sent (Override: true): the
        # policy of the cache behaviour the path falls in.
        edge = self.server.edge
        policy = headers_for(edge.behaviours, path) if edge.behaviours else edge.headers
        merged.update({name.lower(): (name, value) for name, value in policy.items()})
        # HEAD answers carry the length of the body a GET would get.
        merged["content-length"] = ("Content-Length", str(len(answer.body)))
        for name, value in merged.values():
            self.send_header(name, value)
        self.end_headers()
        if not head and answer.status not in {204, 304}:
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.edge.log_requests:
            self.server.edge.report(f"{self.address_string()} {format % args}")


class SiteServer:
    """The edge on a port, in a thread; ``stop`` closes the socket."""

    def __init__(self, host: str, port: int, edge: Edge) -> None:
        self.edge = edge
        self._server = _Server((host, port), edge)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="site-server",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
