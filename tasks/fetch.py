"""Safe HTTP fetching for feeds and article pages.

Why a module of its own: a news pipeline fetches URLs it did not choose (feed URLs from a
registry, item links written by whoever publishes the feed, redirects chosen by remote servers).
Any of them can point at the machine itself or its network (``http://127.0.0.1:4200`` is the
Prefect API; ``169.254.169.254`` is a cloud metadata service), be endless, or never answer. So
every fetch here is bounded and checked:

* only ``http``/``https`` (no ``file://``, ``ftp://``, ``gopher://``...);
* the host is resolved and *every* resolved address must be public (not private, loopback,
  link-local, reserved, multicast, shared/CGNAT, nor an IPv4 address hidden in an IPv6 one),
  unless :attr:`FetchPolicy.allow_private` is set (tests, intranet sources). The check runs
  inside the connection itself (a guarded network backend) and the connection goes to the
  address that was checked, so DNS rebinding between "check" and "connect" cannot bypass it;
* redirects are followed by hand, at most :attr:`FetchPolicy.max_redirects`, and each hop is
  re-checked like the first URL;
* connect/read timeouts plus a total time budget (a server dripping one byte per second never
  trips a read timeout);
* a size cap on the (decompressed) body, enforced while streaming: the download is aborted as
  soon as it goes beyond the cap, so a huge or gzip-bomb response never sits in memory;
* conditional GET (ETag / Last-Modified): a 304 is a normal result, ``not_modified=True``;
* environment proxies are ignored (``trust_env=False``): a proxy would make the address check
  meaningless (we would check the proxy, not the target).

Every refusal raises :class:`FetchRefused` (policy said no) and every failure
:class:`FetchFailed` (we tried; the network or the server said no), both with a ``reason`` short
enough to be stored as a quarantine reason.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

__all__ = [
    "FetchError",
    "FetchRefused",
    "FetchFailed",
    "FetchPolicy",
    "FetchResult",
    "Fetcher",
    "fetch",
    "check_url",
    "is_public_address",
    "resolve_checked",
]

DEFAULT_USER_AGENT = "akhbar/0.1 (Arabic news pipeline; feed reader)"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv4 ranges that ``ipaddress.is_global`` may not flag on every Python version, checked explicitly.
_EXTRA_BLOCKED_V4 = (
    ipaddress.ip_network("0.0.0.0/8"),
    ipaddress.ip_network("100.64.0.0/10"),  # shared address space (carrier-grade NAT)
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
    ipaddress.ip_network("224.0.0.0/4"),  # multicast
    ipaddress.ip_network("240.0.0.0/4"),  # reserved, broadcast
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(Exception):
    """Base of fetch errors: ``reason`` is a short human-readable cause, ``url`` the URL tried."""

    def __init__(self, reason: str, url: str | None = None) -> None:
        super().__init__(f"{reason} ({url})" if url else reason)
        self.reason = reason
        self.url = url


class FetchRefused(FetchError):
    """The policy refused the fetch (scheme, non-public address, too many redirects, too large)."""


class FetchFailed(FetchError):
    """The fetch was attempted and failed (DNS, connection, timeout, HTTP error status)."""


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one fetch. Defaults suit feeds and article pages from the public web."""

    allow_private: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0  # whole fetch including redirects and streaming
    max_bytes: int = 10_000_000  # decompressed body size cap
    max_redirects: int = 5
    allowed_schemes: tuple[str, ...] = ("http", "https")
    allowed_ports: frozenset[int] | None = None  # None: any port
    user_agent: str = DEFAULT_USER_AGENT
    accept: str = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
    verify_tls: bool = True


@dataclass(frozen=True)
class FetchResult:
    """What came back. ``content`` is empty for a 304 (``not_modified``)."""

    url: str  # the final URL, after redirects
    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    not_modified: bool = False
    redirects: tuple[str, ...] = ()  # intermediate URLs, in order

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str | None:
        """The media type without parameters, lower-cased (``text/html``)."""
        value = self.headers.get("content-type")
        return value.split(";", 1)[0].strip().lower() or None if value else None

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of Content-Type: a hint for decoding, never trusted blindly."""
        value = self.headers.get("content-type")
        if not value:
            return None
        msg = Message()
        msg["content-type"] = value
        charset = msg.get_param("charset")
        return str(charset).strip() if isinstance(charset, str) and charset.strip() else None


# --------------------------------------------------------------------------- address checks


def is_public_address(ip: IPAddress) -> bool:
    """True if ``ip`` is a globally routable unicast address.

    IPv6 addresses that embed an IPv4 address (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64) are
    judged by the embedded address: otherwise ``::ffff:10.0.0.1`` would reach the private network.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        return ip.is_global and not ip.is_multicast
    if any(ip in net for net in _EXTRA_BLOCKED_V4):
        return False
    return ip.is_global and not ip.is_multicast


def check_url(url: str, policy: FetchPolicy) -> tuple[str, str, int]:
    """Validate a URL's form (scheme, host, port, no credentials); return (scheme, host, port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchRefused(f"malformed URL: {exc}", url) from exc
    scheme = parts.scheme.lower()
    if scheme not in policy.allowed_schemes:
        raise FetchRefused(f"scheme {scheme or '(none)'!r} not allowed (only {', '.join(policy.allowed_schemes)})",
                           url)
    host = parts.hostname
    if not host:
        raise FetchRefused("URL has no host", url)
    if parts.username is not None or parts.password is not None:
        # Credentials in a feed-supplied URL would be sent to whoever the URL names.
        raise FetchRefused("credentials in URL not allowed", url)
    port = port or (443 if scheme == "https" else 80)
    if policy.allowed_ports is not None and port not in policy.allowed_ports:
        raise FetchRefused(f"port {port} not allowed", url)
    return scheme, host, port


def resolve_checked(host: str, port: int, policy: FetchPolicy) -> list[str]:
    """Resolve ``host`` and return its addresses; refuse if any of them is not public.

    *Every* address must pass, not just the first: a name resolving to one public and one
    private address would otherwise reach the private one whenever it is tried first.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"cannot resolve host {host!r}: {exc}") from exc
    addresses: list[str] = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        try:
            ip = ipaddress.ip_address(raw)
        except ValueError as exc:
            raise FetchRefused(f"host {host!r} resolved to an unparseable address {raw!r}") from exc
        if not policy.allow_private and not is_public_address(ip):
            raise FetchRefused(f"host {host!r} resolves to non-public address {ip}")
        if raw not in addresses:
            addresses.append(raw)
    if not addresses:
        raise FetchFailed(f"host {host!r} has no addresses")
    return addresses


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore network backend that connects only to addresses the policy allows.

    The address check happens here, at connection time, and the socket is opened to the very
    address that was checked, so a DNS answer that changes between two lookups does not matter.
    """

    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in resolve_checked(host, port, self._policy):
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        raise FetchRefused("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the guarded backend in place of the default one (no proxies)."""

    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__(verify=policy.verify_tls, trust_env=False)
        # httpx has no public hook for the network backend; rebuild the pool with ours
        # (same arguments httpx 0.28 uses; tests/tasks/test_fetch.py fails if this stops working).
        self._pool = httpcore.ConnectionPool(
            ssl_context=self._pool._ssl_context,  # type: ignore[attr-defined]
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(policy),
        )


# --------------------------------------------------------------------------- fetching

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Fetcher:
    """A reusable client (keeps connections alive across a feed's page fetches).

    Use as a context manager, or call :meth:`close`. One Fetcher per policy.
    """

    def __init__(self, policy: FetchPolicy | None = None) -> None:
        self.policy = policy or FetchPolicy()
        p = self.policy
        self._client = httpx.Client(
            transport=_GuardedTransport(p),
            timeout=httpx.Timeout(connect=p.connect_timeout, read=p.read_timeout, write=p.read_timeout,
                                  pool=p.connect_timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": p.user_agent, "Accept": p.accept},
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
            accept: str | None = None) -> FetchResult:
        """GET ``url`` under the policy; conditional when ``etag``/``last_modified`` are given.

        Returns a :class:`FetchResult` for 2xx and 304; raises :class:`FetchRefused` or
        :class:`FetchFailed` otherwise.
        """
        policy = self.policy
        deadline = time.monotonic() + policy.total_timeout
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        hops: list[str] = []
        current = url
        while True:
            try:
                _, host, port = check_url(current, policy)
                if not policy.allow_private:
                    # Early, clear refusal; the transport re-checks at connect time.
                    resolve_checked(host, port, policy)
            except FetchError as exc:
                if exc.url is None:
                    raise type(exc)(exc.reason, current) from exc
                raise
            status, resp_headers, body, location = self._one(current, headers, deadline)
            if status in _REDIRECTS and location:
                if len(hops) >= policy.max_redirects:
                    raise FetchRefused(f"too many redirects (more than {policy.max_redirects})", url)
                hops.append(current)
                current = urljoin(current, location)
                continue
            if status == 304:
                return FetchResult(current, status, b"", resp_headers, True, tuple(hops))
            if 200 <= status < 300:
                return FetchResult(current, status, body, resp_headers, False, tuple(hops))
            raise FetchFailed(f"HTTP {status}", current)

    def _one(self, url: str, headers: dict[str, str], deadline: float
             ) -> tuple[int, dict[str, str], bytes, str | None]:
        policy = self.policy
        try:
            with self._client.stream("GET", url, headers=headers) as resp:
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                status = resp.status_code
                if status in _REDIRECTS or status == 304 or not 200 <= status < 300:
                    return status, resp_headers, b"", resp.headers.get("location")
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                    raise FetchRefused(
                        f"response too large (Content-Length {declared} > {policy.max_bytes} bytes)", url)
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > policy.max_bytes:
                        raise FetchRefused(f"response too large (more than {policy.max_bytes} bytes)", url)
                    if time.monotonic() > deadline:
                        raise FetchFailed(f"total time budget exceeded ({policy.total_timeout:g} s)", url)
                    chunks.append(chunk)
                return status, resp_headers, b"".join(chunks), None
        except FetchError as exc:
            if exc.url is None:
                raise type(exc)(exc.reason, url) from exc
            raise
        except httpx.TimeoutException as exc:
            raise FetchFailed(f"timeout ({type(exc).__name__})", url) from exc
        except httpx.DecodingError as exc:
            raise FetchFailed(f"cannot decode response body: {exc}", url) from exc
        except (httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise FetchFailed(f"connection failed: {type(exc).__name__}: {exc}", url) from exc


def fetch(url: str, policy: FetchPolicy | None = None, *, etag: str | None = None,
          last_modified: str | None = None) -> FetchResult:
    """One-off fetch (opens and closes its own client). See :meth:`Fetcher.get`."""
    with Fetcher(policy) as fetcher:
        return fetcher.get(url, etag=etag, last_modified=last_modified)
