"""Limits applied before a request reaches a route: body size and per-caller rate."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import problem_response


async def _send_problem(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    code: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer before the app runs, with the same problem document the exception handlers give."""
    response = problem_response(Request(scope), status, detail, code=code, headers=headers)
    await response(scope, receive, send)


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit with 413 before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_problem(
                        scope, receive, send, 400, "Content-Length is not a number.", "bad_content_length"
                    )
                    return
                if declared > self.max_bytes:
                    await _send_problem(
                        scope,
                        receive,
                        send,
                        413,
                        f"The body is larger than {self.max_bytes} bytes.",
                        "body_too_large",
                    )
                    return
        # Chunked bodies have no declared length: count as they arrive.
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                too_large = f"The body is larger than {self.max_bytes} bytes."
                await _send_problem(scope, receive, send, 413, too_large, "body_too_large")


class _BodyTooLarge(HTTPException):
    """Raised from `receive` while the app reads the body, so parsing stops at the limit.

    An HTTPException on purpose: FastAPI turns any other error met while reading a body into
    400 "There was an error parsing the body"; an HTTPException passes through to the problem handler.
    """

    code = "body_too_large"  # the same problem type as the Content-Length check above

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The body is larger than {max_bytes} bytes.")


class RateLimitMiddleware:
    """A token bucket per caller (bearer token, else client address): 429 with Retry-After when empty.

    In-process by design: each replica protects itself; a shared limit belongs in the gateway.
    `unlimited(path, authorization)` names further requests that are never counted.
    """

    EXEMPT = ("/health/", "/metrics")

    def __init__(
        self,
        app: ASGIApp,
        per_minute: int,
        max_callers: int = 10_000,
        unlimited: Callable[[str, bytes], bool] | None = None,
    ) -> None:
        self.app = app
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        self.max_callers = max_callers
        self.unlimited = unlimited

    @staticmethod
    def _authorization(scope: Scope) -> bytes | None:
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                return bytes(value)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0 or scope["path"].startswith(self.EXEMPT):
            await self.app(scope, receive, send)
            return
        authorization = self._authorization(scope)
        if authorization is not None and self.unlimited and self.unlimited(scope["path"], authorization):
            await self.app(scope, receive, send)
            return
        if authorization is not None:
            caller = hashlib.blake2b(authorization, digest_size=16).digest()
        else:
            caller = str((scope.get("client") or ("?", 0))[0]).encode()
        now = time.monotonic()
        tokens, last = self.buckets.pop(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self.buckets[caller] = (tokens, now)
            retry = max(1, int((1.0 - tokens) / self.rate) + 1)
            await _send_problem(
                scope,
                receive,
                send,
                429,
                "Too many requests; slow down.",
                "rate_limited",
                headers={"Retry-After": str(retry)},
            )
            return
        self.buckets[caller] = (tokens - 1.0, now)
        while len(self.buckets) > self.max_callers:
            self.buckets.popitem(last=False)
        await self.app(scope, receive, send)
