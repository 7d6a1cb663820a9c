"""The paper's prompt strings: one copy, used by SFT, data generation and evaluation alike."""

# stanford_alpaca's two templates, which the paper also sent to GPT-4. The response follows
# "### Response:" directly (Alpaca's train.py concatenates prompt, output and EOS).
ALPACA_PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)


def alpaca_prompt(instruction: str, input: str = "") -> str:
    """The Alpaca prompt for one record; an empty or whitespace-only input selects the no-input template."""
    if input and input.strip():
        return ALPACA_PROMPT_WITH_INPUT.format(instruction=instruction, input=input)
    return ALPACA_PROMPT_NO_INPUT.format(instruction=instruction)


def alpaca_conversation(turns: list[str], answers: list[str]) -> str:
    """A later turn of a conversation in the Alpaca template, which has none of its own: the earlier turns stay in
    the prompt, each answer followed by a blank line and the next `### Instruction:` block, so that every turn reads
    exactly as the first, `alpaca_prompt`, which is what the model was trained on.

    Not FastChat's `alpaca` conversation, which renders `### Instruction: {turn}` on one line (a space after the
    colon, not a newline), `### Response: {answer}` with a space, and ends each answer with `</s>` directly followed
    by the next `### Instruction`: a layout the Alpaca-trained model never saw."""
    text = alpaca_prompt(turns[0])
    for answer, turn in zip(answers, turns[1:]):
        text += f"{answer}\n\n### Instruction:\n{turn}\n\n### Response:"
    return text


def alpaca_user_input(instruction: str, input: str = "") -> str:
    """The released comparison data's `user_input`: the Alpaca prompt without its trailing `### Response:`."""
    return alpaca_prompt(instruction, input).removesuffix("### Response:")


# The rating prompt the authors published for their comparison data: one response at a time, scored 1-10.
RATING_PROMPT = (
    "### Instruction\n\n{instruction}\n\n### Response\n\n{response}\n\n### End of Response\n\n"
    "We would like to request your feedback on the performance of AI assistant in response to the user question "
    "displayed above. Please rate the helpfulness, relevance, accuracy, level of details of their responses. "
    "Each assistant receives an overall score on a scale of 1 to 10, where a higher score indicates better "
    "overall performance. Please first output a single line containing value indicating the scores. In the "
    "subsequent line, please provide a comprehensive explanation of your evaluation, avoiding any potential bias."
)

# Ours: the paper says only that ChatGPT translated the instructions and that GPT-4 answered in Chinese.
TRANSLATE_PROMPT = (
    "Translate the following text into Simplified Chinese. Keep its meaning, tone, formatting and any code, "
    "numbers or names that should not be translated. Reply with the translation only.\n\n{text}"
)
ANSWER_IN_CHINESE = "请用简体中文回答。"
