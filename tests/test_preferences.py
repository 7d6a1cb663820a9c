"""Preference pairs from scored comparisons, v1 rankings and plain pairs."""

import json

import pytest

from gpt4llm.data import DataError, Records, load_records
from gpt4llm.preferences import preference_groups, preference_pairs, prompt_from_user_input, split_by_prompt
from gpt4llm.templates import alpaca_prompt, alpaca_user_input

USER_INPUT = alpaca_user_input("Name a fruit.")


def records(*rows) -> Records:
    return Records("test.json", list(rows), [f"test.json: row {i}" for i in range(len(rows))])


def scored(*items, user_input=USER_INPUT):
    return {"user_input": user_input,
            "responses_and_scores": [{"response": r, "score": s, "source": "x"} for r, s in items]}


def as_tuples(pairs):
    return [(p["chosen"], p["rejected"], p["margin"]) for p in pairs]


def test_the_prompt_is_the_sft_template():
    assert prompt_from_user_input(USER_INPUT) == alpaca_prompt("Name a fruit.")
    assert prompt_from_user_input(alpaca_user_input("Sum.", "1 2")) == alpaca_prompt("Sum.", "1 2")
    assert prompt_from_user_input(USER_INPUT.rstrip()) == alpaca_prompt("Name a fruit.")
    assert prompt_from_user_input("Just an instruction") == alpaca_prompt("Just an instruction")


def test_k3_distinct_scores_give_three_pairs_in_the_right_direction():
    pairs, counts = preference_pairs(records(scored(("a", 9), ("b", 3), ("c", 6))))
    assert as_tuples(pairs) == [("a", "b", 6.0), ("a", "c", 3.0), ("c", "b", 3.0)]
    assert all(p["prompt"] == alpaca_prompt("Name a fruit.") for p in pairs)
    assert counts["pairs"] == 3


def test_ties_half_points_zero_scores_and_empty_responses():
    pairs, counts = preference_pairs(records(scored(("a", 8.5), ("b", 8.5), ("c", 0), ("", 0), ("  ", 7))))
    # a-b tie dropped; the empty responses dropped; c's zero is a real score
    assert as_tuples(pairs) == [("a", "c", 8.5), ("b", "c", 8.5)]
    assert counts["tied pair dropped"] == 1 and counts["empty response dropped"] == 2


def test_k1_and_k2():
    pairs, counts = preference_pairs(
        records(scored(("only", 7)), scored(("x", 4), ("y", 5)), scored(("", 9), ("z", 1)))
    )
    assert as_tuples(pairs) == [("y", "x", 1.0)]
    assert counts["prompt with fewer than 2 responses dropped"] == 2


def test_v1_and_chosen_rejected():
    v1 = {"user_input": USER_INPUT, "completion_a": "better", "completion_b": "worse"}
    plain = {"chosen": "yes", "rejected": "no"}
    with_prompt = {"prompt": "Q: ", "chosen": "yes", "rejected": "no"}
    pairs, _ = preference_pairs(records(v1, plain, with_prompt))
    assert [(p["prompt"], p["chosen"], p["rejected"]) for p in pairs] == [
        (alpaca_prompt("Name a fruit."), "better", "worse"),
        ("", "yes", "no"),
        ("Q: ", "yes", "no"),
    ]


def test_held_out_split_keeps_each_prompt_on_one_side():
    rows = [scored(("a", 9), ("b", 3), ("c", 6), user_input=alpaca_user_input(f"Task {i}")) for i in range(20)]
    pairs, _ = preference_pairs(records(*rows))
    train, test = split_by_prompt(pairs, 0.25, seed=0)
    assert len(train) == 45 and len(test) == 15
    assert not set(train["prompt"]) & set(test["prompt"])
    assert split_by_prompt(pairs, 0.0, seed=0)[1] is None


@pytest.mark.parametrize(
    "row, message",
    [
        ({"user_input": "x", "responses_and_scores": [{"response": "a", "score": "9"}]},
         "'responses_and_scores[0].score' must be a number, got str"),
        ({"user_input": "x", "responses_and_scores": [{"score": 9}]},
         "'responses_and_scores[0].response' must be a string"),
        ({"responses_and_scores": []}, "field 'user_input' is missing"),
        ({"question": "x"}, "unknown schema"),
    ],
)
def test_bad_comparison_records(row, message):
    with pytest.raises(DataError, match="^test.json: row 1: .*" + message.replace("[", r"\[").replace("]", r"\]")):
        preference_pairs(records(scored(("a", 1), ("b", 2)), row))


def test_no_usable_pairs_is_an_error(tmp_path):
    path = tmp_path / "cmp.json"
    path.write_text(json.dumps([scored(("a", 5), ("b", 5))]))
    with pytest.raises(DataError, match=r"cmp.json: no usable preference pairs \(1 tied pair dropped"):
        preference_pairs(load_records(str(path)))


def test_groups_list_each_response_once_with_the_pairs_as_indices():
    other = alpaca_user_input("Name a colour.")
    pairs, _ = preference_pairs(
        records(scored(("a", 9), ("b", 2), ("c", 5)), scored(("red", 8), ("", 3), ("blue", 1), user_input=other))
    )
    train, _ = split_by_prompt(pairs, 0.0, seed=0)
    groups = preference_groups(train).to_list()
    assert [g["prompt"] for g in groups] == [alpaca_prompt("Name a fruit."), alpaca_prompt("Name a colour.")]
    first = groups[0]
    assert sorted(first["responses"]) == ["a", "b", "c"]
    as_pairs = [(first["responses"][c], first["responses"][r], m)
                for c, r, m in zip(first["chosen_index"], first["rejected_index"], first["margin"])]
    assert as_pairs == as_tuples(pairs[:3])  # the same pairs, in order, with their margins
    assert groups[1]["responses"] == ["red", "blue"] and groups[1]["chosen_index"] == [0]


def test_grouped_loss_equals_the_pairwise_loss(tiny_model_dir, tokenizer):
    """Each response once per prompt gives RewardTrainer's loss over the same pairs, with and without margins,
    reward centering included."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    from gpt4llm.reward import GroupedRewardTrainer

    rows = [scored((f"answer {i} is long and good", 9), (f"bad {i}", 2), (f"so-so {i}", 5.5),
                   user_input=alpaca_user_input(f"Q{i}?")) for i in range(3)]
    pairs, _ = preference_pairs(records(*rows))
    train, _ = split_by_prompt(pairs, 0.0, seed=0)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1).eval()
    args = RewardConfig(output_dir="/tmp/unused", report_to="none", use_cpu=True, max_length=256,
                        center_rewards_coefficient=0.01)
    for use_margin in (False, True):
        pairwise = RewardTrainer(model=model, args=args, processing_class=tokenizer,
                                 train_dataset=train if use_margin else train.remove_columns("margin"))
        grouped = GroupedRewardTrainer(model=model, args=args, processing_class=tokenizer,
                                       train_dataset=preference_groups(train), use_margin=use_margin)
        pair_batch = pairwise.data_collator([pairwise.train_dataset[i] for i in range(len(pairwise.train_dataset))])
        group_batch = grouped.data_collator([grouped.train_dataset[i] for i in range(len(grouped.train_dataset))])
        assert len(pair_batch["input_ids"]) == 2 * 9 and len(group_batch["input_ids"]) == 9  # 18 sequences against 9
        with torch.no_grad():
            expected, got = pairwise.compute_loss(model, pair_batch), grouped.compute_loss(model, group_batch)
        assert got.item() == pytest.approx(expected.item(), rel=1e-5)
        assert abs(expected.item() - 0.6931) > 1e-3  # the rewards differ: not the log(2) of a constant head
