"""A local OpenAI-compatible server that behaves like today's OpenAI API where it matters, and injects faults.

Chat completions answer after a fixed latency, with `usage` (a word-and-punctuation count; CJK characters one
token each), `finish_reason` ("length" when the answer is cut at max_tokens / max_completion_tokens) and errors
in the API's shape: `{"error": {"message", "type", "param", "code"}}`. Optional, as the API enforces them:
- rate limits over a rolling `period` (60 s on the real API; tests compress it): a request is admitted if the
  window's requests and tokens leave room for it, charged its prompt tokens plus its length limit, and settled
  with its usage when answered; otherwise 429 with retry-after, retry-after-ms and x-ratelimit-* headers. A
  request larger than the whole token limit gets the API's 429 "Request too large".
- reasoning models (`reasoning_models`): reject max_tokens (unsupported_parameter) and sampling parameters
  other than their default (unsupported_value / unsupported_parameter), and spend reasoning tokens.
- `known_models`: any other model is a 404 model_not_found.
- `retired_models`: a 404 model_not_found with OpenAI's message for a deprecated model.
- the Batch API: files (upload, retrieve, content), batches (create, retrieve, list, cancel); a batch validates
  its input file, runs each line as a chat completion (faults included) and writes output and error files.
  `hold(point)` stops the server at a point ("create": before creating a batch, "created": after creating it
  and before answering, "process": before a batch runs its requests, "content": before sending a file's
  content) until `release(point)`, so tests can kill a client there. `enqueued_token_limit`: a batch whose
  prompt tokens, with those of the batches still queued or running, exceed it fails validation with the API's
  `token_limit_exceeded`; `content_failures`: that many file downloads get a 500 first.

A request asks for a fault with a marker anywhere in its messages, `[fault:KIND*N]`: the first N attempts with
that exact content get the fault, later ones a normal answer (N=0 means every attempt). Kinds:
  429      rate limited, Retry-After: 0.05        429ms    rate limited, retry-after: 30 and retry-after-ms: 50
  quota    429 insufficient_quota (no credit)     500      internal server error
  400      a bad request about this request only  400param unsupported_value for temperature (every request)
  401      unauthorized, echoing the request's API key back (as some servers do)
  slow     answers after `slow_seconds`           drop     closes the connection without answering
  empty    an answer with empty content           noscore  a rating with no number on its first line
  ambiguous a rating whose first line has two candidate scores ("8 or 9")
  refusal  message.refusal set, content null      length   an answer longer than the length limit, cut
  html502  a proxy's HTML 502 page                vllm400  a 400 in vLLM's shape (the error fields at the top)
Log-probabilities: a request with `logprobs: true` to a server given `top_logprobs(messages)`, which returns
[(token, logprob), ...] (or None for the usual answer), is answered with the most likely token, cut at the length
limit like OpenAI's (finish_reason "length" when the limit leaves no room to stop), and `logprobs.content` in
OpenAI's shape with the request's `top_logprobs` most likely tokens; `top_logprobs` without `logprobs` is a 400,
as OpenAI answers it.
Normal answers: what `respond(messages)` returns, when it is given and returns text; else an MT-bench grade (its
prompt asks for "[[rating]]") gets "Rating: [[N]]", N the last "[score:N]" marker in the prompt (else 5); an
MT-bench pairwise judgment (asking for "[[A]]") gets "[[A]]", preferring Assistant A whatever it is; a pairwise
review (it mentions "Assistant 2") gets "9 3\\n...", preferring the first answer whatever it is; a rating prompt
(it contains "### End of Response") gets "8\\n..."; anything else
"Answer: <the instruction's first line>", padded with filler words to `answer_tokens` tokens if set.
"""

import asyncio
import json
import math
import re
import threading
import time
import uuid
from collections import Counter, deque

from aiohttp import web
from loopback import LoopbackServer

FAULT = re.compile(r"\[fault:(\w+)\*(\d+)\]")
TOKEN = re.compile(r"[\u3400-\u9fff]|\w+|[^\w\s]")
REFUSAL = "I'm sorry, but I can't help with that."
REASONING_TOKENS = 16
DEFAULT_LIMIT = 4096  # what a request without a length limit is charged for its answer


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


def prompt_tokens(messages: list[dict]) -> int:
    return sum(count_tokens(str(m.get("content") or "")) for m in messages) + 3 * len(messages) + 3  # OpenAI's framing


def error_body(message: str, type_: str = "invalid_request_error", param=None, code=None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class FakeOpenAI(LoopbackServer):
    def __init__(self, latency: float = 0.0, slow_seconds: float = 2.0, *, tokens_per_period: float | None = None,
                 requests_per_period: float | None = None, period: float = 60.0, answer_tokens: int | None = None,
                 reasoning_models=(), known_models=None, retired_models=(), batch_seconds: float = 0.05,
                 batch_max_requests: int = 50_000, enqueued_token_limit: int | None = None,
                 content_failures: int = 0, respond=None, top_logprobs=None):
        self.latency = latency
        self.respond = respond
        self.top_logprobs = top_logprobs
        self.slow_seconds = slow_seconds
        self.tokens_per_period = tokens_per_period
        self.requests_per_period = requests_per_period
        self.period = period
        self.answer_tokens = answer_tokens
        self.reasoning_models = set(reasoning_models)
        self.known_models = set(known_models) if known_models else None
        self.retired_models = set(retired_models)
        self.batch_seconds = batch_seconds
        self.batch_max_requests = batch_max_requests
        self.enqueued_token_limit = enqueued_token_limit
        self.queued_tokens: dict[str, int] = {}  # batch id -> its prompt tokens, while it is queued or running
        self.content_failures = content_failures
        self.lock = threading.Lock()
        self.attempts: Counter = Counter()
        self.requests: list[dict] = []  # the bodies of every chat completion request
        self.rate_limited = 0  # 429s sent because a limit was reached
        # [time, tokens, in window] of every admitted request; tokens settled to the usage
        self.admitted: list[list] = []
        self._window: deque = deque()  # the admitted requests of the last period
        self._window_tokens = 0.0
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.batches_created: list[str] = []
        self.retrieves: Counter = Counter()  # batch id -> retrieve calls
        self.processed: Counter = Counter()  # custom_id -> times a batch ran it
        self._holds: dict[str, tuple[threading.Event, threading.Event]] = {}
        super().__init__("/v1")

    # ---------------------------------------------------------------- life cycle and test controls

    def __exit__(self, *exc):
        for reached, release in self._holds.values():
            release.set()
        super().__exit__(*exc)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 2**20)
        app.add_routes([
            web.post("/v1/chat/completions", self._chat),
            web.post("/v1/files", self._upload),
            web.get("/v1/files/{id}", self._file),
            web.get("/v1/files/{id}/content", self._content),
            web.post("/v1/batches", self._create_batch),
            web.get("/v1/batches", self._list_batches),
            web.get("/v1/batches/{id}", self._retrieve_batch),
            web.post("/v1/batches/{id}/cancel", self._cancel_batch),
            web.get("/stats", self._stats),
        ])
        return app

    def hold(self, point: str) -> threading.Event:
        """Stop at `point` until release(point); the returned event is set when a request reaches it."""
        self._holds[point] = (threading.Event(), threading.Event())
        return self._holds[point][0]

    def release(self, point: str) -> None:
        self._holds.pop(point)[1].set()

    async def _wait_at(self, point: str) -> None:
        if point in self._holds:
            reached, release = self._holds[point]
            reached.set()
            while not release.is_set():
                await asyncio.sleep(0.01)

    def utilization(self) -> list[float]:
        """Tokens admitted in each whole period after the first, as a share of the limit, for the periods during
        which requests kept coming (the first period starts from an empty window and is left out)."""
        times = [entry[0] for entry in self.admitted]
        start, last, shares = times[0], times[-1], []
        for k in range(1, math.floor((last - times[0]) / self.period)):
            low, high = start + k * self.period, start + (k + 1) * self.period
            shares.append(sum(n for t, n, _ in self.admitted if low <= t < high) / self.tokens_per_period)
        return shares

    # ---------------------------------------------------------------- chat completions

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        text = "\n".join(str(m.get("content") or "") for m in body["messages"])
        with self.lock:
            self.attempts[text] += 1
            attempt = self.attempts[text]
            self.requests.append(body)
        fault = FAULT.search(text)
        kind = fault.group(1) if fault and (int(fault.group(2)) == 0 or attempt <= int(fault.group(2))) else None
        status, payload, headers = self._refused(body, kind, request)
        entry = None
        if status == 200:
            status, payload, headers, entry = self._admit(body)
        await asyncio.sleep(self.latency)
        if kind == "drop":
            request.transport.close()
            return web.Response(status=500)
        if kind == "slow":
            await asyncio.sleep(self.slow_seconds)
        if status == 200:
            payload = self._completion(body, kind)
            usage = payload["usage"]
            with self.lock:  # settled with what the answer used
                if entry[2]:
                    self._window_tokens += usage["total_tokens"] - entry[1]
                entry[1] = usage["total_tokens"]
            if self.tokens_per_period:
                headers = self._limit_headers()
        if isinstance(payload, str):
            return web.Response(text=payload, status=status, headers=headers)
        return web.json_response(payload, status=status, headers=headers)

    def _refused(self, body: dict, kind: str | None, request) -> tuple[int, dict, dict]:
        """A request the API rejects before generating: validation and injected errors; (200, ...) otherwise."""
        model = body.get("model", "")
        if model in self.retired_models:  # what OpenAI answers for a shut-down model
            return 404, error_body(f"The model `{model}` has been deprecated, learn more here: "
                                   "https://platform.openai.com/docs/deprecations", code="model_not_found"), {}
        if self.known_models is not None and model not in self.known_models:
            return 404, error_body(f"The model `{model}` does not exist or you do not have access to it.",
                                   code="model_not_found"), {}
        if model in self.reasoning_models:
            if "max_tokens" in body:
                return 400, error_body("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                                       "'max_completion_tokens' instead.", param="max_tokens",
                                       code="unsupported_parameter"), {}
            if body.get("temperature", 1) != 1:
                return 400, error_body(f"Unsupported value: 'temperature' does not support {body['temperature']} "
                                       "with this model. Only the default (1) value is supported.",
                                       param="temperature", code="unsupported_value"), {}
            for name in ("top_p", "presence_penalty", "frequency_penalty", "logprobs"):
                if name in body:
                    return 400, error_body(f"Unsupported parameter: '{name}' is not supported with this model.",
                                           param=name, code="unsupported_parameter"), {}
        if body.get("top_logprobs") is not None and not body.get("logprobs"):
            return 400, error_body("Invalid value for 'top_logprobs': 'logprobs' must be set to true.",
                                   param="top_logprobs", code="invalid_value"), {}
        if kind == "429":
            return 429, error_body("Rate limit reached (injected)", "requests", code="rate_limit_exceeded"), {
                "Retry-After": "0.05"
            }
        if kind == "429ms":
            headers = {"retry-after": "30", "retry-after-ms": "50"}
            return 429, error_body("Rate limit reached (injected)", "requests", code="rate_limit_exceeded"), headers
        if kind == "quota":
            return 429, error_body("You exceeded your current quota, please check your plan and billing details.",
                                   "insufficient_quota", code="insufficient_quota"), {}
        if kind == "401":
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            return 401, error_body(f"Incorrect API key provided: {key}.", code="invalid_api_key"), {}
        if kind == "500":
            return 500, error_body("injected 500", "server_error"), {}
        if kind == "400":
            return 400, error_body("injected 400"), {}
        if kind == "html502":
            return 502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"}
        if kind == "vllm400":
            return 400, {"object": "error", "message": "This model's maximum context length is 2048 tokens.",
                         "type": "BadRequestError", "param": None, "code": 400}, {}
        if kind == "400param":
            return 400, error_body("Unsupported value: 'temperature' does not support 0.7 with this model.",
                                   param="temperature", code="unsupported_value"), {}
        return 200, {}, {}

    def _admit(self, body: dict):
        """Admit a request within the rolling-window limits, charging its prompt and length limit."""
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_LIMIT
        charge = prompt_tokens(body["messages"]) + limit
        with self.lock:
            now = time.monotonic()
            while self._window and self._window[0][0] + self.period <= now:
                gone = self._window.popleft()
                gone[2] = False
                self._window_tokens -= gone[1]
            used = self._window_tokens
            model = body.get("model")
            if self.tokens_per_period and charge > self.tokens_per_period:
                self.rate_limited += 1
                message = (f"Request too large for {model} in organization org-fake on tokens per min (TPM): Limit "
                           f"{self.tokens_per_period:g}, Requested {charge}. The input or output tokens must be "
                           "reduced in order to run successfully.")
                return 429, error_body(message, "tokens", code="rate_limit_exceeded"), {}, None
            over_tokens = self.tokens_per_period and used + charge > self.tokens_per_period
            over_requests = self.requests_per_period and len(self._window) + 1 > self.requests_per_period
            if over_tokens or over_requests:
                self.rate_limited += 1
                need = used + charge - self.tokens_per_period if over_tokens else 0
                freed, wait = 0.0, self.period
                for admitted, tokens, _ in self._window:
                    freed += tokens
                    if (over_tokens and freed >= need) or (not over_tokens):
                        wait = admitted + self.period - now
                        break
                what = "tokens per min (TPM)" if over_tokens else "requests per min (RPM)"
                message = (f"Rate limit reached for {model} in organization org-fake on {what}: Limit "
                           f"{self.tokens_per_period if over_tokens else self.requests_per_period:g}, Used {used:g}, "
                           f"Requested {charge}. Please try again in {wait:.3f}s.")
                headers = {"retry-after": str(math.ceil(wait)), "retry-after-ms": str(math.ceil(wait * 1000))}
                return (429, error_body(message, "tokens" if over_tokens else "requests", code="rate_limit_exceeded"),
                        headers, None)
            # [admitted, tokens, in window]
            entry = [now, charge, bool(self.tokens_per_period or self.requests_per_period)]
            if entry[2]:
                self._window.append(entry)
                self._window_tokens += charge
            self.admitted.append(entry)
            return 200, {}, {}, entry

    def _limit_headers(self) -> dict:
        with self.lock:
            used = self._window_tokens
        return {"x-ratelimit-limit-tokens": f"{self.tokens_per_period:g}",
                "x-ratelimit-remaining-tokens": f"{max(0, self.tokens_per_period - used):g}"}

    def _completion(self, body: dict, kind: str | None) -> dict:
        messages = body["messages"]
        last = str(messages[-1].get("content") or "")
        model = body.get("model", "")
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        reasoning = REASONING_TOKENS if model in self.reasoning_models else 0
        message = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        ranked = self.top_logprobs(messages) if self.top_logprobs and body.get("logprobs") else None
        if ranked is not None:
            return self._logprob_completion(body, sorted(ranked, key=lambda t: -t[1]), limit)
        if kind == "refusal":
            message["refusal"] = REFUSAL
            answer = ""
        else:
            everything = "\n".join(str(m.get("content") or "") for m in messages)
            if kind == "empty":
                answer = ""
            elif self.respond and (text := self.respond(messages)) is not None:
                answer = text
            elif "[[rating]]" in everything:  # an MT-bench grade: the last "[score:N]" in the prompt, else 5
                scores = re.findall(r"\[score:(\d+)\]", last)
                score = scores[-1] if scores else 5
                answer = "no idea" if kind == "noscore" else f"A fair answer.\nRating: [[{score}]]"
            elif "[[A]]" in everything:  # an MT-bench pairwise verdict: always Assistant A, whichever it is
                answer = "Assistant A follows the instructions better.\n[[A]]"
            elif "Assistant 2" in last:  # a pairwise review: always prefers the first answer
                answer = "9 3\nThe first answer is better."
            elif "### End of Response" in last:
                answer = {"noscore": "no idea\n", "ambiguous": "8 or 9, hard to say\n"}.get(
                    kind, "8\nA helpful, accurate answer."
                )
            else:
                instruction = re.search(r"### Instruction:\n(.+)", last)
                answer = "Answer: " + (instruction.group(1) if instruction else last.strip().splitlines()[0])[:200]
            target = 2 * (limit or 64) if kind == "length" else self.answer_tokens
            if target and count_tokens(answer) < target:
                answer += " " + " ".join(["word"] * (target - count_tokens(answer)))
            if limit is not None and count_tokens(answer) + reasoning > limit:
                tokens = list(TOKEN.finditer(answer))[: max(0, limit - reasoning)]
                answer = answer[: tokens[-1].end()] if tokens else ""
                finish = "length"
            message["content"] = answer
        completion = count_tokens(answer) + reasoning + (count_tokens(REFUSAL) if kind == "refusal" else 0)
        prompt = prompt_tokens(messages)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                 "completion_tokens_details": {"reasoning_tokens": reasoning}}
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage}

    @staticmethod
    def _logprob_completion(body: dict, ranked: list[tuple[str, float]], limit: int | None) -> dict:
        def token(text: str, logprob: float) -> dict:
            return {"token": text, "logprob": logprob, "bytes": list(text.encode())}

        best = ranked[0]
        top = [token(*pair) for pair in ranked[: body.get("top_logprobs") or 0]]
        prompt = prompt_tokens(body["messages"])
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": best[0], "refusal": None},
                             "logprobs": {"content": [token(*best) | {"top_logprobs": top}], "refusal": None},
                             "finish_reason": "length" if limit == 1 else "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": 1, "total_tokens": prompt + 1}}

    # ---------------------------------------------------------------- files

    async def _upload(self, request: web.Request) -> web.Response:
        fields = {}
        async for part in await request.multipart():
            fields[part.name] = (part.filename, await part.read())
        if "file" not in fields or fields.get("purpose", (None, b""))[1].decode() != "batch":
            return web.json_response(error_body("'file' and purpose 'batch' are required", param="file"), status=400)
        filename, content = fields["file"]
        return web.json_response(self._public(self._new_file(filename or "upload.jsonl", content, "batch")))

    def _new_file(self, filename: str, content: bytes, purpose: str) -> dict:
        file = {"id": f"file-{uuid.uuid4().hex[:16]}", "object": "file", "bytes": len(content),
                "created_at": int(time.time()), "filename": filename, "purpose": purpose, "status": "processed",
                "content": content}
        self.files[file["id"]] = file
        return file

    @staticmethod
    def _public(file: dict) -> dict:
        return {k: v for k, v in file.items() if k != "content"}

    async def _file(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["id"])
        if file is None:
            return web.json_response(error_body("No such File object"), status=404)
        return web.json_response(self._public(file))

    async def _content(self, request: web.Request) -> web.Response:
        await self._wait_at("content")
        if self.content_failures > 0:
            self.content_failures -= 1
            return web.json_response(error_body("The server had an error", "server_error"), status=500)
        file = self.files.get(request.match_info["id"])
        if file is None:
            return web.json_response(error_body("No such File object"), status=404)
        return web.Response(body=file["content"], content_type="application/octet-stream")

    # ---------------------------------------------------------------- batches

    async def _create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._wait_at("create")
        if request.transport is None or request.transport.is_closing():  # the client died while held: lost
            return web.Response(status=499)
        file = self.files.get(body.get("input_file_id"))
        if file is None or file["purpose"] != "batch":
            return web.json_response(error_body("Invalid 'input_file_id'", param="input_file_id"), status=400)
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            return web.json_response(error_body("Invalid 'endpoint' or 'completion_window'", param="endpoint"),
                                     status=400)
        now = int(time.time())
        batch = {"id": f"batch_{uuid.uuid4().hex[:16]}", "object": "batch", "endpoint": body["endpoint"],
                 "errors": None, "input_file_id": file["id"], "completion_window": "24h", "status": "validating",
                 "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
                 "expires_at": now + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
                 "expired_at": None, "cancelling_at": None, "cancelled_at": None,
                 "request_counts": {"total": 0, "completed": 0, "failed": 0},
                 "metadata": body.get("metadata")}
        self.batches[batch["id"]] = batch
        self.batches_created.append(batch["id"])
        asyncio.get_running_loop().create_task(self._run_batch(batch, file["content"]))
        await self._wait_at("created")
        return web.json_response(batch)

    async def _run_batch(self, batch: dict, content: bytes) -> None:
        await asyncio.sleep(self.batch_seconds)
        lines, problems, seen = [], [], set()
        for number, raw in enumerate(content.splitlines(), start=1):
            try:
                line = json.loads(raw)
                custom_id, request_body = line["custom_id"], line["body"]
                assert line.get("method") == "POST" and line.get("url") == batch["endpoint"]
            except (ValueError, KeyError, TypeError, AssertionError):
                problems.append({"code": "invalid_request", "message": f"line {number} is not a batch request",
                                 "line": number})
                continue
            if custom_id in seen:
                problems.append({"code": "duplicate_custom_id", "message": f"custom_id {custom_id!r} is used twice",
                                 "line": number})
            seen.add(custom_id)
            lines.append((custom_id, request_body))
        if len(lines) > self.batch_max_requests:
            problems.append(
                {"code": "too_many_requests", "message": f"at most {self.batch_max_requests} requests a batch"}
            )
        tokens = sum(prompt_tokens(body.get("messages", [])) for _, body in lines)
        limit = self.enqueued_token_limit
        if limit is not None and tokens + sum(self.queued_tokens.values()) > limit:
            problems.append({"code": "token_limit_exceeded", "message": f"Enqueued token limit reached. Limit: "
                             f"{limit} enqueued tokens. Please try again once some in_progress "
                             "batches have been completed."})
        if problems:
            batch.update(status="failed", failed_at=int(time.time()), errors={"object": "list", "data": problems})
            return
        self.queued_tokens[batch["id"]] = tokens
        batch.update(status="in_progress", in_progress_at=int(time.time()))
        batch["request_counts"]["total"] = len(lines)
        await self._wait_at("process")
        output, errors = [], []
        for custom_id, request_body in lines:
            if batch["status"] == "cancelling":
                break
            self.processed[custom_id] += 1
            text = "\n".join(str(m.get("content") or "") for m in request_body.get("messages", []))
            with self.lock:
                self.attempts[text] += 1
                attempt = self.attempts[text]
            fault = FAULT.search(text)
            kind = fault.group(1) if fault and (int(fault.group(2)) == 0 or attempt <= int(fault.group(2))) else None
            batch_kind = kind if kind not in ("429", "429ms", "drop", "slow", "401") else None  # faults of connections
            status, payload, _ = self._refused(request_body, batch_kind, None)
            if status == 200:
                payload = self._completion(request_body, kind)
            result = {"id": f"batch_req_{uuid.uuid4().hex[:12]}", "custom_id": custom_id,
                      "response": {"status_code": status, "request_id": uuid.uuid4().hex, "body": payload},
                      "error": None}
            (output if status == 200 else errors).append(result)
            batch["request_counts"]["completed" if status == 200 else "failed"] += 1
            await asyncio.sleep(self.batch_seconds / max(1, len(lines)))
        cancelled = batch["status"] == "cancelling"
        for custom_id, _ in lines[len(output) + len(errors) :]:  # never run: the batch was cancelled
            errors.append({"id": f"batch_req_{uuid.uuid4().hex[:12]}", "custom_id": custom_id, "response": None,
                           "error": {"code": "batch_cancelled",
                                     "message": "This request was not executed because the batch was "
                                                "cancelled."}})
        if not cancelled:
            batch.update(status="finalizing", finalizing_at=int(time.time()))
            await asyncio.sleep(self.batch_seconds)
        for results, key in ((output, "output_file_id"), (errors, "error_file_id")):
            if results:
                data = "".join(json.dumps(r) + "\n" for r in results).encode()
                batch[key] = self._new_file(f"{batch['id']}_{key}.jsonl", data, "batch_output")["id"]
        self.queued_tokens.pop(batch["id"], None)
        if cancelled:
            batch.update(status="cancelled", cancelled_at=int(time.time()))
        else:
            batch.update(status="completed", completed_at=int(time.time()))

    async def _retrieve_batch(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return web.json_response(error_body("No batch found"), status=404)
        self.retrieves[batch["id"]] += 1
        return web.json_response(batch)

    async def _list_batches(self, request: web.Request) -> web.Response:
        newest_first = sorted(self.batches.values(),
                              key=lambda b: (b["created_at"], self.batches_created.index(b["id"])), reverse=True)
        after = request.query.get("after")
        if after:
            newest_first = newest_first[[b["id"] for b in newest_first].index(after) + 1 :]
        limit = int(request.query.get("limit", 20))
        page = newest_first[:limit]
        return web.json_response({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                                  "last_id": page[-1]["id"] if page else None,
                                  "has_more": len(newest_first) > limit})

    async def _cancel_batch(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return web.json_response(error_body("No batch found"), status=404)
        if batch["status"] not in ("validating", "in_progress", "finalizing"):
            return web.json_response(error_body(f"Cannot cancel a batch with status '{batch['status']}'."), status=400)
        batch.update(status="cancelling", cancelling_at=int(time.time()))
        return web.json_response(batch)

    async def _stats(self, request: web.Request) -> web.Response:
        """Not an OpenAI endpoint: what a benchmark in another process needs to know."""
        with self.lock:
            return web.json_response({"requests": len(self.requests), "rate_limited": self.rate_limited,
                                      "admitted": self.admitted,
                                      "utilization": self.utilization() if self.admitted and self.tokens_per_period
                                      else None})


if __name__ == "__main__":  # a stand-alone server for benchmarks: python tests/fake_openai.py --latency 0.2 [--tpm N]
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--tpm", type=float, help="tokens per period")
    parser.add_argument("--period", type=float, default=60.0)
    parser.add_argument("--answer-tokens", type=int)
    args = parser.parse_args()
    with FakeOpenAI(latency=args.latency, tokens_per_period=args.tpm, period=args.period,
                    answer_tokens=args.answer_tokens) as server:
        print(server.url, flush=True)
        threading.Event().wait()
