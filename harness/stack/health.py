"""One health probe per kind of component; each answers True/False and never raises."""

from __future__ import annotations

import contextlib
import socket
import urllib.error
import urllib.request
from urllib.parse import unquote, urlsplit


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """``GET url`` answers 200 (loopback only: no proxy is consulted)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def mongo_ok(uri: str, timeout: float = 2.0) -> bool:
    """The server at ``uri`` answers ``ping``."""
    from pymongo import MongoClient  # the harness only; the API uses the async client

    ms = int(timeout * 1000)
    client: MongoClient[dict[str, object]] = MongoClient(
        uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms
    )
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


def redis_ok(url: str, timeout: float = 1.0) -> bool:
    """The server at ``url`` answers ``PING`` with ``+PONG`` (AUTH first when the URL has one)."""
    parts = urlsplit(url)
    commands = []
    if parts.password:
        user = unquote(parts.username or "")
        args = [user, unquote(parts.password)] if user else [unquote(parts.password)]
        commands.append(_resp("AUTH", *args))
    commands.append(_resp("PING"))
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout
        ) as sock:
            sock.sendall(b"".join(commands))
            reply = b""
            while reply.count(b"\r\n") < len(commands):
                chunk = sock.recv(256)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return False
    return reply.splitlines()[-1:] == [b"+PONG"]


def _resp(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        raw = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on ``host:port`` and it can be bound (a closed port in TIME_WAIT is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):
            sock.bind((host, port))
            return True
    return False
