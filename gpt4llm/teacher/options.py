"""The teacher options: one dataclass and one argument group, shared by every command that calls a teacher
(`data_gen` tasks, `eval judge`, endpoint `eval generate`); the dataclass states each default once.

This module imports nothing heavy, so a command parses its arguments (and answers `--help`) before it loads
the client, datasets or torch.
"""

import argparse
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

# US dollars per million (input, output) tokens of the OpenAI models available on PRICES_READ_ON, as OpenAI listed
# them that day. Local endpoints cost nothing; pass a table of your own (--price-table) for other providers.
PRICES_READ_ON = "2026-11-01"
PRICES_PER_MILLION = {
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "o3": (2.0, 8.0),
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
}
# OpenAI models that are shut down, with the day (OpenAI's deprecation notices): the paper's teachers and judges
# among them. Their published numbers replay from stored judgments (`eval aggregate`); `eval calibrate` measures
# how a replacement judge agrees with them.
SHUT_DOWN_MODELS = {
    "gpt-4-0314": "2026-03-26",
    **dict.fromkeys(("gpt-4", "gpt-4-0613", "gpt-4-turbo", "gpt-4-1106-preview", "gpt-3.5-turbo",
                     "gpt-3.5-turbo-0125", "o1", "o3-mini", "o4-mini"), "2026-10-23"),
}
BATCH_PRICE_FACTOR = 0.5  # the Batch API costs half the synchronous price, for every model
TOKEN_PARAMETERS = ("auto", "max_tokens", "max_completion_tokens")


@dataclass
class TeacherConfig:
    """How to reach a teacher and how hard to push it.

    Rate limits are per `limit_period` seconds: 60 for the per-minute limits of real APIs (tests compress it)."""

    model: str
    base_url: str | None = None
    concurrency: int = 32
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    limit_period: float = 60.0
    max_attempts: int = 6
    timeout: float = 120.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    token_parameter: str = "auto"  # auto: max_completion_tokens for OpenAI's reasoning models, max_tokens otherwise
    keep_truncated: bool = False  # keep answers cut at the token limit (flagged) instead of failing them
    batch: bool = False  # the Batch API instead of requests one by one
    batch_poll: float = 30.0
    batch_max_requests: int = 50_000  # the Batch API's limits per input file
    batch_max_bytes: int = 200_000_000
    cancel_batches: bool = False
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(PRICES_PER_MILLION))

    def __post_init__(self):
        for name in ("concurrency", "max_attempts", "batch_max_requests", "batch_max_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("requests_per_minute", "tokens_per_minute"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("limit_period", "timeout", "batch_poll"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.token_parameter not in TOKEN_PARAMETERS:
            raise ValueError(f"token_parameter must be one of {TOKEN_PARAMETERS}, got {self.token_parameter!r}")


def _default(name: str):
    return next(f.default for f in fields(TeacherConfig) if f.name == name)


# the options add_teacher_options defines, by their TeacherConfig names (plus the price table that updates `prices`)
TEACHER_OPTIONS = ("model", "base_url", "concurrency", "requests_per_minute", "tokens_per_minute", "limit_period",
                   "max_attempts", "timeout", "token_parameter", "keep_truncated", "batch", "batch_poll",
                   "batch_max_requests", "cancel_batches", "price_table")


def add_teacher_options(parser: argparse.ArgumentParser, *, model: bool = True,
                        model_help: str = "the teacher model") -> None:
    """The teacher's options, as one group of `parser`, stored under the names of TEACHER_OPTIONS (and
    --extra-body, --dry-run: what a stage sends and whether it sends, not how it reaches the teacher)."""
    group = parser.add_argument_group("teacher (OpenAI or any OpenAI-compatible endpoint)")
    if model:
        group.add_argument("--model", required=True, help=model_help)
    group.add_argument("--base-url",
                       help="an OpenAI-compatible endpoint, e.g. vLLM or llama.cpp (default: the OpenAI API)")
    group.add_argument("--concurrency", type=int, default=_default("concurrency"),
                       help=f"requests in flight (default {_default('concurrency')})")
    group.add_argument("--rpm", dest="requests_per_minute", type=float,
                       help="requests-per-minute limit, never exceeded")
    group.add_argument("--tpm", dest="tokens_per_minute", type=float,
                       help="tokens-per-minute limit, never exceeded: each request is charged its prompt and max "
                       "tokens up front and settled with the usage the response reports")
    group.add_argument("--limit-period", type=float, default=_default("limit_period"), metavar="SECONDS",
                       help=f"the window of --rpm and --tpm (default {_default('limit_period'):g}, as APIs count; "
                       "shorter only for tests)")
    group.add_argument("--max-attempts", type=int, default=_default("max_attempts"),
                       help=f"tries per request before it is a failure (default {_default('max_attempts')})")
    group.add_argument("--timeout", type=float, default=_default("timeout"),
                       help=f"seconds per request (default {_default('timeout'):g})")
    group.add_argument("--token-parameter", choices=TOKEN_PARAMETERS, default=_default("token_parameter"),
                       help="the name the length limit is sent under (default auto: max_completion_tokens, and no "
                       "sampling parameters, for OpenAI's reasoning models o1/o3/o4/gpt-5; max_tokens otherwise)")
    group.add_argument("--keep-truncated", action="store_true",
                       help="keep answers cut at the length limit, flagged 'truncated' (default: left out and listed "
                       "in OUTPUT.failures.jsonl as kind truncated)")
    group.add_argument("--extra-body", type=json.loads, metavar="JSON",
                       help='endpoint-specific request fields, e.g. a llama.cpp grammar: \'{"grammar": "..."}\'')
    group.add_argument("--price-table", type=Path,
                       help='JSON {"model": [usd_per_1M_input, usd_per_1M_output]}, over the built-in table '
                       f'(OpenAI\'s prices of {PRICES_READ_ON} for {", ".join(PRICES_PER_MILLION)})')
    group.add_argument("--dry-run", action="store_true",
                       help="print the first requests and a cost estimate; send nothing")
    group.add_argument("--batch", action="store_true",
                       help="send through the Batch API (half the price, results within 24 h); rerun the same "
                       "command to resume polling after an interruption")
    group.add_argument("--batch-poll", type=float, default=_default("batch_poll"), metavar="SECONDS",
                       help="with --batch: poll interval")
    group.add_argument("--batch-max-requests", type=int, default=_default("batch_max_requests"),
                       help=f"with --batch: requests per batch file (default {_default('batch_max_requests'):,}, "
                       "the API's limit)")
    group.add_argument("--cancel-batches", action="store_true",
                       help="with --batch: cancel this run's open batches, keep what they finished, send nothing new")


def teacher_config(model: str, *, price_table: Path | None = None, **settings) -> TeacherConfig:
    """The TeacherConfig of the teacher's options (TEACHER_OPTIONS by name); ValueError with a one-line reason
    when they do not fit together."""
    if settings.get("cancel_batches") and not settings.get("batch"):
        raise ValueError("--cancel-batches goes with --batch")
    config = TeacherConfig(model=model, **settings)
    if price_table:
        try:
            table = json.loads(Path(price_table).read_text())
            config.prices |= {name: (float(price[0]), float(price[1])) for name, price in table.items()}
        except (OSError, ValueError, TypeError, IndexError, AttributeError) as error:
            raise ValueError(f"{price_table}: not a price table {{model: [input, output]}} ({error})") from None
    return config
