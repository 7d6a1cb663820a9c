"""Stand-ins for the checkpoints and datasets that real users' runs load, built here with no download.

Each keeps the properties where real inputs trip code:
- LLaMA (huggyllama/llama-7b and its fine-tunes): transformers' LlamaTokenizer (SentencePiece-style BPE with byte
  fallback) with a BOS prepended, no pad token and no chat template; a config whose pad_token_id is 0, as the
  2023 conversions have it.
- OPT (facebook/opt-1.3b): a byte-level BPE GPT2Tokenizer that prepends `</s>` (id 2) as BOS, pads with `<pad>`
  (id 1), and the OPT architecture with its projection and learned positions.
- SmolLM2 (the embedded default): its real tokenizer (pad = EOS, a chat template) on a tiny Llama.
The models are tiny and random: they run every code path in seconds, and learn only what a test makes learnable.
Their widths (64) are whole blocks of bitsandbytes' 4-bit quantization, as real models' are.
The datasets are the project's own words in the released schemas, with their quirks (inputs on some records,
Chinese text, empty responses, scores of 0 and half points, prompts with fewer than three responses).
"""

import json
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[1] / "data_gen" / "seeds" / "seed_instructions_en.jsonl"
WORDS = ("red green blue yellow black white river planet bread chess volcano tiger music bridge tea clock "
         "write explain list describe name give summarise compare translate answer").split()
CHINESE = ["请写一首关于春天的短诗。", "解释一下光合作用。", "列出三种常见的水果。", "如何学习一门新的语言？",
           "给出一个健康早餐的建议。", "描述你最喜欢的城市。"]


def corpus() -> list[str]:
    """Text to learn the stand-in vocabularies from: the project's seed instructions, the template, Chinese."""
    from gpt4llm.templates import ALPACA_PROMPT_WITH_INPUT

    seeds = [json.loads(line)["instruction"] for line in SEEDS.read_text().splitlines() if line.strip()]
    return seeds + [ALPACA_PROMPT_WITH_INPUT] * 20 + CHINESE * 5 + [" ".join(WORDS)] * 5


def llama_tokenizer():
    """transformers' LlamaTokenizer on a 1,000-token vocabulary: <unk> 0, <s> 1, </s> 2, 256 byte tokens, merges."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaTokenizer

    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    bpe = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    bpe.train_from_iterator(
        corpus(), trainers.BpeTrainer(vocab_size=1000, special_tokens=specials, show_progress=False)
    )
    learned = json.loads(bpe.to_str())["model"]
    tokenizer = LlamaTokenizer(
        vocab=learned["vocab"], merges=[tuple(m) for m in learned["merges"]], add_bos_token=True
    )
    assert tokenizer.pad_token is None and tokenizer.chat_template is None
    return tokenizer


def opt_tokenizer():
    """A GPT2Tokenizer like OPT's: <s> 0, <pad> 1, </s> 2 (also the BOS it prepends), <unk> 3, byte-level BPE."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(corpus(), trainer)
    learned = json.loads(bpe.to_str())["model"]
    return GPT2Tokenizer(
        vocab=learned["vocab"], merges=[tuple(m) for m in learned["merges"]], bos_token="</s>", eos_token="</s>",
        unk_token="</s>", pad_token="<pad>", add_bos_token=True,
    )


TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
# TinyLlama-1.1B's shape with LLaMA's vocabulary size: a GPU check's stand-in (the tokenizer uses its first 1,000 ids)
ONE_B = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
             num_key_value_heads=4, vocab_size=32000)
# LLaMA-7B's configuration (huggyllama/llama-7b): the paper's model, for the GPU check's throughput stage
SEVEN_B = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=32, vocab_size=32000)
OPT_TINY = dict(hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4, word_embed_proj_dim=32)
# OPT-1.3B's configuration (facebook/opt-1.3b): the paper's reward model
OPT_1_3B = dict(hidden_size=2048, ffn_dim=8192, num_hidden_layers=24, num_attention_heads=32,
                word_embed_proj_dim=2048, vocab_size=50272)


def save_llama(path: Path, tokenizer, *, pad_token_id: int | None = 0, shape: dict = TINY, dtype: str = "float32",
               device: str = "cpu") -> str:
    """A Llama with random weights next to `tokenizer`, saved in `dtype`; pad_token_id as checkpoints' configs say."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        **{"vocab_size": len(tokenizer), **shape}, max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=pad_token_id, tie_word_embeddings=False,
    )
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model.to(getattr(torch, dtype)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def save_opt(path: Path, tokenizer, *, shape: dict = OPT_TINY, dtype: str = "float32", device: str = "cpu") -> str:
    import torch
    from transformers import OPTConfig, OPTForCausalLM

    torch.manual_seed(0)
    config = OPTConfig(
        **{"vocab_size": len(tokenizer), **shape}, max_position_embeddings=2048, pad_token_id=1, bos_token_id=2,
        eos_token_id=2,
    )
    with torch.device(device):
        model = OPTForCausalLM(config)
    model.to(getattr(torch, dtype)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def alpaca_records(n: int, lang: str = "en") -> list[dict]:
    """Alpaca-schema records as released: an input on every third record, outputs of a few to forty words."""
    records = []
    for i in range(n):
        if lang == "zh":
            instruction, output = CHINESE[i % len(CHINESE)], "这是一个简短的回答，" * (1 + i % 6) + f"第{i}条。"
        else:
            word = WORDS[i % len(WORDS)]
            instruction, output = (
                f"Write a sentence about the colour {word} ({i}).",
                " ".join([word] * (3 + i % 37)) + ".",
            )
        records.append({"instruction": instruction, "input": (f"context {i}" if i % 3 == 0 else ""), "output": output})
    return records


def comparison_records(n: int) -> list[dict]:
    """comparison_data_v2 as released: user_input without `### Response:`, three scored responses from three
    sources, with the release's quirks on some prompts."""
    from gpt4llm.templates import alpaca_user_input

    rows = []
    for i in range(n):
        word = WORDS[i % len(WORDS)]
        scored = [
            {
                "response": f"A clear and helpful answer about {word}, with detail. " * (1 + i % 4),
                "score": 9.0,
                "source": "gpt4",
            },
            {
                "response": f"Something about {word}.",
                "score": 6.5 if i % 5 else 9.0,
                "source": "text-davinci-003",
            },  # ties too
            {
                "response": "no." if i % 7 else "",
                "score": 2.0 if i % 7 else 0.0,
                "source": "icm-1.3b",
            },  # empty, scored 0
        ]
        user_input = alpaca_user_input(f"Tell me about {word} ({i}).", "some context" if i % 4 == 0 else "")
        rows.append({"user_input": user_input,
                     "responses_and_scores": scored[: 2 if i % 9 == 0 else 3]})
    return rows


def write_json(path: Path, rows) -> str:
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    return str(path)
