"""Rate limits as API servers count them: at most L requests or tokens in any window of one period (a minute).

A server counts a request when it admits it, charging what the request may use (its prompt and its length
limit), and settles the charge with the real usage once the answer is written; the request leaves the count one
period after its admission. A token bucket does not match this: one that refills L a minute also lets a full
bucket through at the start of a window, up to 2L in that window, and one capped at a second's worth (what this
client used to do) lets any request larger than a second's budget through almost free.

`RollingWindow` keeps the client's count never below the server's, so a run gets no rate-limit errors, and close
to it, so the budget is used: a request reserves its estimate before it is sent; `settle` replaces the estimate
with the usage the response reports and counts it from when the request was sent plus the time it can have taken
to reach the server (its latency, but at most 2 s of a minute: a request takes seconds to answer, not to arrive).
"""

import asyncio
import bisect
import json
import math
import time


class RollingWindow:
    """At most `limit` units in any `period` seconds; waiters are served in order, so a large request is not
    starved by small ones. The caller keeps each reservation at or below `limit`."""

    def __init__(self, limit: float, period: float):
        self.limit = float(limit)
        self.period = float(period)
        self.reach = max(period / 30, 0.25)  # the longest a request is assumed to take to reach the server's count
        self._expiries: list[float] = []  # settled amounts, sorted by when they leave the window
        self._amounts: list[float] = []
        self._counted = 0.0  # sum of _amounts
        self._reserved = 0.0  # estimates of the requests in flight
        self._turn = asyncio.Lock()
        self._freed = asyncio.Event()

    def used(self) -> float:
        self._expire(time.monotonic())
        return self._counted + self._reserved

    async def reserve(self, amount: float) -> float:
        if amount > self.limit:
            raise ValueError(f"{amount:g} is more than the whole limit of {self.limit:g}")
        async with self._turn:
            while True:
                now = time.monotonic()
                self._expire(now)
                excess = self._counted + self._reserved + amount - self.limit
                if excess <= 1e-9:
                    self._reserved += amount
                    return amount
                self._freed.clear()
                try:  # until enough settled amounts leave the window, or a request in flight settles lower
                    await asyncio.wait_for(self._freed.wait(), self._time_to_free(excess, now))
                except asyncio.TimeoutError:
                    pass

    def settle(self, reserved: float, used: float, sent_at: float) -> None:
        """Replace a reservation by what the request used, counted from `sent_at` (time.monotonic())."""
        now = time.monotonic()
        self._reserved = max(0.0, self._reserved - reserved)
        if used > 0:
            expiry = sent_at + self.period + min(now - sent_at, self.reach)
            at = bisect.bisect(self._expiries, expiry)
            self._expiries.insert(at, expiry)
            self._amounts.insert(at, used)
            self._counted += used
        self._freed.set()

    def _expire(self, now: float) -> None:
        gone = bisect.bisect(self._expiries, now)
        if gone:
            self._counted -= sum(self._amounts[:gone])
            del self._expiries[:gone], self._amounts[:gone]
            if not self._expiries:
                self._counted = 0.0  # no drift from float sums

    def _time_to_free(self, excess: float, now: float) -> float | None:
        freed = 0.0
        for expiry, amount in zip(self._expiries, self._amounts):
            freed += amount
            if freed >= excess - 1e-9:
                return max(0.0, expiry - now) + 1e-3
        return None  # only requests in flight can free enough: wait for one to settle


class TokenEstimator:
    """An upper estimate of a request's prompt tokens from its UTF-8 size, calibrated on reported usage.

    Until a response reports its prompt tokens, half a token per byte (English runs about a quarter, Chinese
    about 0.4 with GPT-4's tokenizer); then the highest rate seen, with a 15% margin. Every message costs a few
    tokens of framing (4 here, 3 with OpenAI's chat format) and every request 3 more."""

    PER_MESSAGE = 4
    PER_REQUEST = 3
    MARGIN = 1.15

    def __init__(self):
        self.per_byte = 0.5
        self.calibrated = False

    def prompt_tokens(self, messages: list[dict]) -> int:
        rate = self.per_byte * (self.MARGIN if self.calibrated else 1.0)
        return math.ceil(_size(messages) * rate) + self.PER_MESSAGE * len(messages) + self.PER_REQUEST

    def observe(self, messages: list[dict], prompt_tokens: int) -> None:
        size = _size(messages)
        if size < 64 or not prompt_tokens:  # a few bytes tell nothing beside the framing
            return
        rate = max(0.0, prompt_tokens - self.PER_MESSAGE * len(messages) - self.PER_REQUEST) / size
        self.per_byte = max(rate, self.per_byte) if self.calibrated else rate
        self.calibrated = True


def _size(messages: list[dict]) -> int:
    total = 0
    for message in messages:
        content = message.get("content")
        total += len(content.encode()) if isinstance(content, str) else len(json.dumps(content).encode())
    return total
