"""Who is asking: bearer tokens (API), console sessions (cookie), and the limit on
failed sign-ins.

A console session is a random id in an HttpOnly, Secure, SameSite=Strict cookie; the
server keeps only the SHA-256 of the id, the grant it stands for and a CSRF token, so
the bearer token never travels again after sign-in and sign-out ends the session.
Failed sign-ins (console form and API bearer tokens alike) are counted per client
address; past the limit the address is refused (429) until the window has passed.
Logs name the client address, never a token or session id.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from auditstream.query.api import Grant, token_digest

log = logging.getLogger(__name__)

COOKIE = "__Host-auditstream-session"
IDLE_S = 30 * 60
LIFETIME_S = 12 * 3600


class Unauthorized(Exception):  # noqa: N818 - an HTTP answer, not a failure of ours
    """No valid credentials (401), or too many failures from this client (429)."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FailureLimiter:
    """At most `limit` failed attempts per client address in `window_s` seconds."""

    def __init__(
        self,
        limit: int = 10,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> collections.deque[float]:
        seen = self._failures.setdefault(client, collections.deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        return seen

    def check(self, client: str) -> None:
        """Unauthorized (with retry_after) when `client` is over the limit."""
        now = self._clock()
        with self._lock:
            seen = self._recent(client, now)
            if len(seen) >= self.limit:
                wait = int(seen[0] + self.window_s - now) + 1
                raise Unauthorized("too many failed sign-ins; try again later", wait)

    def failed(self, client: str, where: str) -> None:
        now = self._clock()
        with self._lock:
            seen = self._recent(client, now)
            seen.append(now)
            count = len(seen)
            if len(self._failures) > 10_000:  # forget idle clients, not the active one
                for other in [c for c, s in self._failures.items() if not s and c != client]:
                    del self._failures[other]
        log.warning(
            "failed sign-in (%s) from %s: %d in the last %d s", where, client, count, self.window_s
        )


@dataclass
class Session:
    grant: Grant
    csrf: str = field(repr=False)
    created: float = 0.0
    seen: float = 0.0


class Authenticator:
    """Resolves tokens and sessions to grants."""

    def __init__(
        self,
        grants: Sequence[Grant],
        limiter: FailureLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._grants = list(grants)
        self.limiter = limiter or FailureLimiter()
        self._clock = clock
        self._sessions: dict[bytes, Session] = {}
        self._lock = threading.Lock()

    def grant_for_token(self, token: str, client: str, where: str) -> Grant:
        self.limiter.check(client)
        digest = token_digest(token.strip())
        found = None
        for grant in self._grants:  # every grant compared, in constant time each
            if hmac.compare_digest(grant.digest, digest):
                found = grant
        if found is None:
            self.limiter.failed(client, where)
            raise Unauthorized("missing or unknown bearer token")
        return found

    def bearer(self, authorization: str | None, client: str) -> Grant:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.limiter.check(client)
            raise Unauthorized("missing or unknown bearer token")
        return self.grant_for_token(token, client, "api")

    def sign_in(self, token: str, client: str) -> tuple[str, Session]:
        """A new session for a valid token: (cookie value, session)."""
        grant = self.grant_for_token(token, client, "console")
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(grant, secrets.token_urlsafe(24), now, now)
        with self._lock:
            self._expire(now)
            self._sessions[_key(session_id)] = session
        log.info("console sign-in as %s from %s", grant.name, client)
        return session_id, session

    def session(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(_key(cookie))
            if session is None:
                return None
            if now - session.seen > IDLE_S or now - session.created > LIFETIME_S:
                del self._sessions[_key(cookie)]
                return None
            session.seen = now
            return session

    def sign_out(self, cookie: str | None) -> None:
        if cookie:
            with self._lock:
                self._sessions.pop(_key(cookie), None)

    def _expire(self, now: float) -> None:
        for key in [
            k
            for k, s in self._sessions.items()
            if now - s.seen > IDLE_S or now - s.created > LIFETIME_S
        ]:
            del self._sessions[key]


def _key(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def same_token(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
