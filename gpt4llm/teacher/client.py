"""The teacher client shared by data generation and evaluation: chat completions from OpenAI or any
OpenAI-compatible endpoint (vLLM, llama.cpp), many in flight, within rate limits, retried when retrying can help.

- Limits: a semaphore bounds the requests in flight; requests and tokens per minute are rolling windows counted
  as servers count them (gpt4llm/teacher/limits.py): a request is charged its prompt and length limit up front and
  settled with the usage its response reports, so the limits hold whatever the request size and are used fully.
  One that could never fit the token limit fails at once (kind "too large").
- The first request goes alone: what the endpoint refuses for every request (a bad key, no access, an unknown
  model, a parameter or value the model does not support, no quota) stops the run after that one request, with
  the server's message (TeacherUnusable).
- Models: OpenAI's reasoning models (o1, o3, o4-mini, gpt-5 ...) are sent `max_completion_tokens` and no
  sampling parameters; `token_parameter` chooses the length limit's name for any endpoint.
- Answers: a refusal (`message.refusal`, or the provider's content filter) fails with kind "refusal" and its
  text after one retry; `finish_reason: length` marks an answer truncated (the caller decides whether to keep it);
  empty answers and answers the caller's `parse` rejects are retried.
- Retries: 429 (after retry-after-ms, else Retry-After), 5xx, timeouts and dropped connections, with exponential
  backoff and full jitter, up to `max_attempts`; other 4xx errors fail the request at once.
- The API key comes from OPENAI_API_KEY (the endpoint from --base-url, else OPENAI_BASE_URL, else OpenAI's) and
  is handed to the HTTP client only: it is never logged or written, and is cut out of any error message a server
  echoes it in.
- Chat completions go over one aiohttp session, about 0.3 ms of client CPU a request where the openai SDK's
  path costs about 1.8 (bench/data_gen_throughput.py); the SDK serves the Batch API (gpt4llm/teacher/batch.py).
"""

import asyncio
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from .limits import RollingWindow, TokenEstimator
from .options import BATCH_PRICE_FACTOR, SHUT_DOWN_MODELS, TeacherConfig

logger = logging.getLogger(__name__)

LOCAL_KEY = "no-key-needed-for-local-endpoints"
# o1, o3, o4-mini, gpt-5, gpt-5.1-mini ... (also behind a provider prefix such as "openai/"), but not gpt-5-chat
REASONING_MODEL = re.compile(r"^(?:[\w.-]+/)*(?:o\d|gpt-5)(?![\w.-]*-chat)", re.IGNORECASE)
SAMPLING_PARAMETERS = (
    "temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias",
)
# error codes that every request of the run would get again
UNUSABLE_CODES = {
    "unsupported_parameter", "unsupported_value", "model_not_found", "insufficient_quota", "invalid_api_key",
}
DEFAULT_COMPLETION_TOKENS = 4096  # what a request without a length limit is assumed to use, for --tpm


class TeacherError(Exception):
    """A request that failed for good; the message is the reason recorded with it, `kind` its short class
    (e.g. "HTTP 500", "timeout", "refusal") for counting."""

    def __init__(self, reason: str, kind: str = "error"):
        super().__init__(reason)
        self.kind = kind


class TeacherUnusable(TeacherError):
    """The endpoint refuses every request (bad key, no access, unknown model, unsupported parameter): the run stops."""


class HTTPStatusError(Exception):
    """An error response, with the API's error object: {message, type, param, code}."""

    def __init__(self, status: int, error: dict, headers):
        self.status_code, self.headers = status, headers
        self.message = str(error.get("message") or f"HTTP {status}")
        self.code = None if error.get("code") is None else str(error["code"])
        self.param = error.get("param") if isinstance(error.get("param"), str) else None
        super().__init__(self.message)


class RequestTimeout(Exception):
    pass


class ConnectionFailed(Exception):
    pass


class ChatEndpoint:
    """POST {base_url}/chat/completions with the key as a bearer token, as the openai SDK sends it."""

    def __init__(self, base_url: str, api_key: str, timeout: float):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.headers = {
            "Authorization": f"Bearer {api_key}", "Content-Type": "application/json", "Accept": "application/json",
        }
        for header, variable in (("OpenAI-Organization", "OPENAI_ORG_ID"), ("OpenAI-Project", "OPENAI_PROJECT_ID")):
            if os.environ.get(variable):
                self.headers[header] = os.environ[variable]
        self.timeout = timeout
        self._session = None

    async def post(self, body: dict) -> dict:
        import aiohttp

        if self._session is None:  # made inside the running loop, on first use
            # HTTPS_PROXY and the like, looked up once (aiohttp's trust_env looks them up in a thread per request)
            target = urlsplit(self.url)
            bypass = not target.hostname or proxy_bypass(target.hostname)
            self._proxy = None if bypass else getproxies().get(target.scheme)
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout),
                                                  connector=aiohttp.TCPConnector(limit=0))
        try:
            async with self._session.post(
                self.url, data=json.dumps(body).encode(), headers=self.headers, proxy=self._proxy
            ) as response:
                status, headers, data = response.status, response.headers, await response.read()
        except asyncio.TimeoutError:
            raise RequestTimeout() from None
        except aiohttp.ClientError as error:
            raise ConnectionFailed(str(error) or type(error).__name__) from None
        try:
            payload = json.loads(data) if data else {}
        except ValueError:
            payload = None
        if status >= 400:
            error = payload.get("error", payload) if isinstance(payload, dict) else None  # vLLM puts it at the top
            if isinstance(error, str):
                error = {"message": error}
            if not isinstance(error, dict) or not error.get("message"):
                error = {**(error or {}), "message": data.decode(errors="replace").strip()[:300] or f"HTTP {status}"}
            raise HTTPStatusError(status, error, headers)
        if not isinstance(payload, dict):
            raise ConnectionFailed(f"HTTP {status} with a body that is not a JSON object")
        return payload

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class Refusal(ValueError):
    """The model declined to answer (`message.refusal`) or the provider's content filter stopped it."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


@dataclass
class Answer:
    text: str
    value: object = None  # what the caller's `parse` made of the text
    truncated: bool = False  # finish_reason "length": the answer was cut at the length limit
    logprobs: list | None = None  # per answer token {token, logprob, top_logprobs}, when the request asked for them


def is_reasoning_model(model: str) -> bool:
    return bool(REASONING_MODEL.match(model))


def token_parameter(config: TeacherConfig) -> str:
    if config.token_parameter != "auto":
        return config.token_parameter
    return "max_completion_tokens" if is_reasoning_model(config.model) else "max_tokens"


def request_body(config: TeacherConfig, messages: list[dict], params: dict) -> dict:
    """The JSON body of a chat completion: `params` use the name `max_tokens` for the length limit and may carry
    `extra_body`, merged last; for reasoning models the sampling parameters they reject are left out."""
    length_name = token_parameter(config)
    reasoning = is_reasoning_model(config.model)
    body = {"model": config.model, "messages": messages}
    for key, value in params.items():
        if key == "max_tokens":
            body[length_name] = value
        elif key != "extra_body" and not (reasoning and key in SAMPLING_PARAMETERS):
            body[key] = value
    return body | (params.get("extra_body") or {})


def read_answer(response: dict, parse: Callable[[str], object] | None = None) -> Answer:
    """The Answer in a chat completion; Refusal for a refusal, ValueError for an empty or unparseable answer."""
    choice = (response.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    if message.get("refusal"):
        raise Refusal(str(message["refusal"]).strip())
    finish = choice.get("finish_reason")
    text = (message.get("content") or "").strip()
    logprobs = (choice.get("logprobs") or {}).get("content") or None
    if finish == "content_filter":
        raise Refusal(f"stopped by the provider's content filter{f' after: {text[:200]!r}' if text else ''}")
    if finish == "length":  # cut at the limit: not asked again (the same limit cuts it again)
        try:
            value = parse(text) if parse and text else None
        except ValueError:
            value = None
        return Answer(text, value, truncated=True, logprobs=logprobs)
    if not text:
        raise ValueError("empty answer")
    return Answer(text, parse(text) if parse else None, logprobs=logprobs)


@dataclass
class Usage:
    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, usage: dict | None) -> None:
        usage = usage or {}
        self.prompt_tokens += usage.get("prompt_tokens") or 0
        self.completion_tokens += usage.get("completion_tokens") or 0

    def cost(self, model: str, prices: dict, *, batch: bool = False) -> float | None:
        if model not in prices:
            return None
        per_input, per_output = prices[model]
        factor = BATCH_PRICE_FACTOR if batch else 1.0
        return factor * (self.prompt_tokens * per_input + self.completion_tokens * per_output) / 1e6


class Teacher:
    def __init__(self, config: TeacherConfig):
        self.config = config
        api_key = os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if config.base_url is None:
                raise TeacherError("OPENAI_API_KEY is not set (needed for the OpenAI API; local endpoints need none)")
            api_key = LOCAL_KEY
        self._api_key = api_key
        self.base_url = config.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        self.endpoint = ChatEndpoint(self.base_url, api_key, config.timeout)
        self._openai = None
        self.usage = Usage()
        self.estimator = TokenEstimator()
        self._slots = asyncio.Semaphore(config.concurrency)
        period = config.limit_period
        self._requests = RollingWindow(config.requests_per_minute, period) if config.requests_per_minute else None
        self._tokens = RollingWindow(config.tokens_per_minute, period) if config.tokens_per_minute else None
        self._probe = asyncio.Lock()
        self._opened = False  # True once a first request came back without stopping the run
        self._unusable: TeacherUnusable | None = None
        self._reasoning, self._length_name = is_reasoning_model(config.model), token_parameter(config)
        if self._reasoning and config.token_parameter == "auto":
            logger.info(
                "%s is a reasoning model: sending max_completion_tokens and no temperature/top_p", config.model
            )

    @property
    def client(self):
        """The openai SDK's client, for the Batch and Files APIs; its retries are off, as ours are counted."""
        if self._openai is None:
            import openai

            self._openai = openai.AsyncOpenAI(
                api_key=self._api_key, base_url=self.base_url, max_retries=0, timeout=self.config.timeout
            )
        return self._openai

    def body(self, messages: list[dict], params: dict) -> dict:
        if self._reasoning or "extra_body" in params or self._length_name != "max_tokens":
            return request_body(self.config, messages, params)
        return {"model": self.config.model, "messages": messages, **params}  # the common case, without the renaming

    async def complete(
        self, messages: list[dict], *, parse: Callable[[str], object] | None = None, **params
    ) -> Answer:
        """The answer, with `parse(text)` as its value; raises TeacherError when it gives up.

        `parse` raises ValueError on an answer that should be asked for again (e.g. a rating with no score).
        """
        kind = reason = ""
        refusals = 0
        for attempt in range(1, self.config.max_attempts + 1):
            if attempt > 1:
                self.usage.retries += 1
            delay = None
            try:
                return read_answer(await self._attempt(messages, params), parse)
            except Refusal as error:
                kind, reason = "refusal", error.text
                refusals += 1
                if refusals > 1:  # a model that declined twice declines again: stop paying for it
                    break
            except HTTPStatusError as error:
                kind, reason = f"HTTP {error.status_code}", _message(error)
                if error.status_code == 429:
                    delay = _retry_after(error)
                    if reason.startswith("Request too large"):  # larger than the whole limit: waiting cannot help
                        raise TeacherError(f"{kind}: {reason}", "too large") from None
                elif error.status_code < 500 and error.status_code not in (408, 409):
                    raise TeacherError(f"{kind}: {reason}", kind) from None
            except RequestTimeout:
                kind, reason = "timeout", f"no answer within {self.config.timeout:g}s"
            except ConnectionFailed as error:
                kind, reason = "connection", _message(error)
            except ValueError as error:  # empty content, or an answer `parse` rejected
                kind, reason = "bad answer", str(error)
            if attempt < self.config.max_attempts:
                await asyncio.sleep(delay if delay is not None else self._backoff(attempt))
        if kind == "refusal":
            raise TeacherError(reason, kind)
        raise TeacherError(f"gave up after {self.config.max_attempts} attempts: {kind}: {reason}", kind)

    async def _attempt(self, messages: list[dict], params: dict) -> dict:
        """One request, alone if it is the first, within the limits; TeacherUnusable if no request can succeed."""
        body = self.body(messages, params)
        charge = 0
        if self._tokens:
            completion = body.get(self._length_name) or DEFAULT_COMPLETION_TOKENS
            charge = self.estimator.prompt_tokens(messages) + completion
            if completion >= self._tokens.limit or (self.estimator.calibrated and charge > self._tokens.limit):
                raise TeacherError(
                    f"needs about {charge} tokens ({completion} of them for the answer), more than the whole limit of "
                    f"{self._tokens.limit:g} per {self.config.limit_period:g}s (--tpm); "
                    "raise it or lower the length limit",
                    "too large",
                )
            charge = min(charge, self._tokens.limit)  # an uncertain estimate over the limit waits for a whole window
        async with self._slots:
            if not self._opened:
                async with self._probe:  # the others wait here until the first request is back
                    if self._unusable:
                        raise self._unusable
                    if not self._opened:
                        try:
                            return await self._send(body, messages, charge)
                        finally:
                            self._opened = self._unusable is None
            return await self._send(body, messages, charge)

    async def _send(self, body: dict, messages: list[dict], charge: float) -> dict:
        if self._unusable:
            raise self._unusable
        if self._tokens:
            await self._tokens.reserve(charge)
        if self._requests:
            await self._requests.reserve(1)
        sent_at = time.monotonic()
        used = charge  # what a request the server may have admitted is assumed to have used
        self.usage.requests += 1
        try:
            response = await self.endpoint.post(body)
            usage = response.get("usage") or {}
            self.usage.add(usage)
            if self._tokens and usage.get("prompt_tokens"):
                self.estimator.observe(messages, usage["prompt_tokens"])
            used = (
                usage.get("total_tokens")
                or (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
                or charge
            )
            return response
        except HTTPStatusError as error:
            if error.status_code == 429:
                used = 0  # not admitted: no tokens counted
            unusable = self._unusable_error(error, body)
            if unusable:
                self._unusable = unusable
                raise unusable from None
            raise
        finally:
            if self._tokens:
                self._tokens.settle(charge, used, sent_at)
            if self._requests:
                self._requests.settle(1, 1, sent_at)  # a request counts, admitted or not

    def _unusable_error(self, error: HTTPStatusError, body: dict) -> TeacherUnusable | None:
        """The error every request would get again, or None: no access (401/403/404), a code that names the
        model or a parameter, or a 400 whose `param` is a request-wide field (not one of the messages)."""
        status, code, param = error.status_code, error.code, error.param
        wide_param = (
            status == 400 and isinstance(param, str) and re.split(r"[.\[]", param)[0] in set(body) - {"messages"}
        )
        if status not in (401, 403, 404) and code not in UNUSABLE_CODES and not wide_param:
            return None
        where = self.config.base_url or "the OpenAI API"
        detail = f"HTTP {status}{f' {code}' if code else ''}: {_message(error)}"
        hint = (
            " (--token-parameter chooses the length limit's name)"
            if param in ("max_tokens", "max_completion_tokens") else ""
        )
        if status == 404 or code == "model_not_found":
            hint = f". {unavailable_model_hint(self.config.model, where)}"
        return TeacherUnusable(f"{where}, model {self.config.model}: {detail}{hint}", f"HTTP {status}")

    def _backoff(self, attempt: int) -> float:
        # full jitter: spreads the retries of many requests that failed together
        return random.uniform(0, min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1)))

    def cost(self, *, batch: bool = False) -> float | None:
        return self.usage.cost(self.config.model, self.config.prices, batch=batch)

    async def close(self) -> None:
        await self.endpoint.close()
        if self._openai is not None:
            await self._openai.close()


def unavailable_model_hint(model: str, where: str) -> str:
    """What to do about a model an endpoint does not serve: the paper's judges are shut down, and what they judged
    is kept in stored judgments."""
    retired = f" (OpenAI shut it down on {SHUT_DOWN_MODELS[model]})" if model in SHUT_DOWN_MODELS else ""
    return (f"{model} is unavailable at {where}{retired}: choose a model it serves, measure a replacement judge "
            "against GPT-4's stored verdicts with `python -m eval calibrate --model NEW`, and replay published "
            "numbers from stored judgments with `python -m eval aggregate`")


def _retry_after(error: HTTPStatusError) -> float | None:
    """Seconds to wait from retry-after-ms (OpenAI's, precise) or Retry-After (seconds; an HTTP date is ignored)."""
    headers = error.headers or {}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        try:
            if value is not None:
                return max(0.0, float(value) / scale)
        except ValueError:
            continue
    return None


_KEY_PATTERN = re.compile(r"\b(sk|key)-[A-Za-z0-9_*.-]{4,}")


def redact(text: str) -> str:
    """`text` with anything that looks like an API key (and the key in OPENAI_API_KEY) removed."""
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        text = text.replace(key, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def _message(error: Exception) -> str:
    """The server's message for an error, with anything that looks like an API key removed (servers echo them)."""
    text = str(getattr(error, "message", None) or error)
    text = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return redact(text)[:300]
