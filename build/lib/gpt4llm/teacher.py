"""The teacher client shared by data generation and evaluation: chat completions from OpenAI or any
OpenAI-compatible endpoint (vLLM, llama.cpp), many in flight, within rate limits, retried when retrying can help.

- Concurrency is bounded by a semaphore; optional requests-per-minute and tokens-per-minute limits pace the
  requests with token buckets.
- 429 (honouring Retry-After), 5xx, timeouts, dropped connections, empty answers and answers the caller's
  `parse` rejects are retried with exponential backoff and full jitter, up to `max_attempts`; other 4xx
  errors fail at once. A failure carries its reason; nothing is silently dropped.
- The API key comes from OPENAI_API_KEY and is handed to the client only: it is never logged or written.
- Token usage is counted from the responses; cost is estimated from a price table.
"""

import asyncio
import logging
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import openai

logger = logging.getLogger(__name__)

# US dollars per million (input, output) tokens, as listed by OpenAI on 2026-11-01. Local endpoints cost nothing;
# pass a table of your own (--price-table) for other providers.
PRICES_PER_MILLION = {
    "gpt-4": (30.0, 60.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-3.5-turbo": (0.5, 1.5),
}
LOCAL_KEY = "no-key-needed-for-local-endpoints"


class TeacherError(Exception):
    """A request that failed for good; the message is the reason recorded with it, `kind` its short class
    (e.g. "HTTP 500", "timeout") for counting."""

    def __init__(self, reason: str, kind: str = "error"):
        super().__init__(reason)
        self.kind = kind


class TeacherUnusable(TeacherError):
    """The endpoint refuses every request (bad key, no access, unknown model): the run stops."""


@dataclass
class TeacherConfig:
    model: str
    base_url: str | None = None
    concurrency: int = 32
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_attempts: int = 6
    timeout: float = 120.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(PRICES_PER_MILLION))


@dataclass
class Usage:
    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def cost(self, model: str, prices: dict) -> float | None:
        if model not in prices:
            return None
        per_input, per_output = prices[model]
        return (self.prompt_tokens * per_input + self.completion_tokens * per_output) / 1e6


class TokenBucket:
    """Allows `rate_per_minute` units a minute, evenly: bursts hold at most a second's worth, since providers
    enforce their per-minute limits over shorter windows too."""

    def __init__(self, rate_per_minute: float):
        self.rate = rate_per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.available = self.capacity
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, amount: float) -> None:
        amount = min(amount, self.capacity)
        async with self.lock:  # waiters queue in order, so a large request is not starved by small ones
            while True:
                now = time.monotonic()
                self.available = min(self.capacity, self.available + (now - self.updated) * self.rate)
                self.updated = now
                if self.available >= amount:
                    self.available -= amount
                    return
                await asyncio.sleep((amount - self.available) / self.rate)


class Teacher:
    def __init__(self, config: TeacherConfig):
        self.config = config
        api_key = os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if config.base_url is None:
                raise TeacherError("OPENAI_API_KEY is not set (needed for the OpenAI API; local endpoints need none)")
            api_key = LOCAL_KEY
        # retries are ours (counted, bounded, with Retry-After), so the client's own are off
        self.client = openai.AsyncOpenAI(
            api_key=api_key, base_url=config.base_url, max_retries=0, timeout=config.timeout
        )
        self.usage = Usage()
        self._slots = asyncio.Semaphore(config.concurrency)
        self._requests = TokenBucket(config.requests_per_minute) if config.requests_per_minute else None
        self._tokens = TokenBucket(config.tokens_per_minute) if config.tokens_per_minute else None

    async def complete(
        self, messages: list[dict], *, parse: Callable[[str], object] | None = None, **params
    ) -> tuple[str, object]:
        """The answer's text and `parse(text)` (None without `parse`); raises TeacherError when it gives up.

        `parse` raises ValueError on an answer that should be asked for again (e.g. a rating with no score).
        """
        kind = reason = ""
        for attempt in range(1, self.config.max_attempts + 1):
            if attempt > 1:
                self.usage.retries += 1
            delay = None
            try:
                text = await self._request(messages, params)
                return text, (parse(text) if parse else None)
            except openai.RateLimitError as error:
                kind, reason, delay = "HTTP 429", _message(error), _retry_after(error)
            except openai.APIStatusError as error:
                kind, reason = f"HTTP {error.status_code}", _message(error)
                if error.status_code in (401, 403, 404):
                    where = self.config.base_url or "the OpenAI API"
                    raise TeacherUnusable(f"{where}, model {self.config.model}: {kind}: {reason}", kind) from None
                if error.status_code < 500 and error.status_code not in (408, 409):
                    raise TeacherError(f"{kind}: {reason}", kind) from None
            except openai.APITimeoutError:
                kind, reason = "timeout", f"no answer within {self.config.timeout:g}s"
            except openai.APIConnectionError as error:
                kind, reason = "connection", _message(error)
            except ValueError as error:  # empty content, or an answer `parse` rejected
                kind, reason = "bad answer", str(error)
            if attempt < self.config.max_attempts:
                await asyncio.sleep(delay if delay is not None else self._backoff(attempt))
        raise TeacherError(f"gave up after {self.config.max_attempts} attempts: {kind}: {reason}", kind)

    async def _request(self, messages: list[dict], params: dict) -> str:
        async with self._slots:
            if self._requests:
                await self._requests.take(1)
            if self._tokens:
                prompt_chars = sum(len(m["content"]) for m in messages)
                await self._tokens.take(prompt_chars / 4 + params.get("max_tokens", 512))
            self.usage.requests += 1
            # The client's documented raw `post` (same auth, errors and timeouts) skips its typed request and
            # response models, which cost more client CPU than the rest of a request's path put together.
            extra = params.get("extra_body") or {}
            body = {"model": self.config.model, "messages": messages, **{k: v for k, v in params.items() if k != "extra_body"}, **extra}
            response = await self.client.post("/chat/completions", cast_to=dict, body=body)
        usage = response.get("usage") or {}
        self.usage.prompt_tokens += usage.get("prompt_tokens") or 0
        self.usage.completion_tokens += usage.get("completion_tokens") or 0
        choices = response.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content")
        if not text or not text.strip():
            raise ValueError("empty answer")
        return text.strip()

    def _backoff(self, attempt: int) -> float:
        # full jitter: spreads the retries of many requests that failed together
        return random.uniform(0, min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1)))

    def cost(self) -> float | None:
        return self.usage.cost(self.config.model, self.config.prices)

    async def close(self) -> None:
        await self.client.close()


def _retry_after(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after") if error.response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to backoff


_KEY_PATTERN = re.compile(r"\b(sk|key)-[A-Za-z0-9_*.-]{4,}")


def _message(error: Exception) -> str:
    """The server's message for an error, with anything that looks like an API key removed (servers echo them)."""
    body = getattr(error, "body", None)
    text = body.get("message") if isinstance(body, dict) and isinstance(body.get("message"), str) else str(error)
    text = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        text = text.replace(key, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)[:300]
