"""From a trained run to real users: recommendations in the data's own ids, without the training data."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import REPO, TINY, assert_clean_failure, flat, invoke, set_args

import recdiff
from recdiff.errors import CheckpointError, DataError, SpecError
from recdiff.evaluation.ranking import top_k_items
from recdiff.nn.randomness import NoiseStream
from recdiff.serving.predictor import Predictor, history_keys, length_groups
from recdiff.training.vocab import VOCAB, Vocabulary

MAX_LEN = 20  # TINY's data.max_len
ITEMS = 40


def write_interactions(path: Path) -> Path:
    """A small RecBole `.inter` file with string ids that survives the 5-core: 60 users, 8 interactions each, 40 items."""
    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    rows += [f"u{user}\ti{(user * 3 + k) % ITEMS}\t{k}" for user in range(60) for k in range(8)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def inter_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch quickstart run on a `.inter` file of string ids, whose data file is then moved away."""
    root = tmp_path_factory.mktemp("inter")
    data = write_interactions(root / "shop.inter")
    overrides = [*TINY, "train.epochs=1", f"data.path={data}"]
    result = invoke("train", REPO / "examples" / "quickstart.yaml", "--out", root / "run", *set_args(overrides))
    assert result.exit_code == 0, result.output
    data.rename(root / "elsewhere.inter")
    return root / "run"


@pytest.fixture(scope="module")
def predictor(inter_run: Path) -> Predictor:
    return Predictor.from_run(inter_run)


def test_training_writes_the_vocabulary_and_evaluation_adds_it_to_an_older_run(
    trained_run: tuple[Path, object], tmp_path: Path
) -> None:
    vocab = Vocabulary.read(trained_run[0] / VOCAB)
    older = shutil.copytree(trained_run[0], tmp_path / "older")
    (older / VOCAB).unlink()
    data = recdiff.load_run(older).data  # what `recdiff evaluate` loads
    assert Vocabulary.read(older / VOCAB) == vocab == Vocabulary.of(data)
    assert vocab.items == tuple(data.item_ids) and vocab.users == tuple(data.user_ids)
    assert json.loads((older / VOCAB).read_text())["num_items"] == data.num_items == len(vocab.items)


def test_a_predictor_loads_without_the_training_data_and_answers_in_its_ids(inter_run: Path, predictor: Predictor) -> None:
    assert not (inter_run.parent / "shop.inter").exists()
    (found,) = predictor.recommend([["i1", "i2", "i3"]], k=5)
    assert len(found.items) == 5 and all(item.startswith("i") for item in found.items)
    assert set(found.items) <= set(predictor.vocab.items) and found.unknown == 0
    assert found.scores == sorted(found.scores, reverse=True)
    assert recdiff.recommend(inter_run, [["i1", "i2", "i3"]], k=5) == [found]
    assert recdiff.recommend(predictor, [["i1", "i2", "i3"]], k=5) == [found]


def test_results_are_the_tensor_level_ranking_mapped_through_the_vocabulary(predictor: Predictor) -> None:
    histories = [["i4", "i5", "i6", "i7"], ["i30"], ["i12", "i13"]]
    found = predictor.recommend(histories, k=7)
    index = {token: dense for dense, token in enumerate(predictor.vocab.items, 1)}
    history = torch.tensor([[0] * (4 - len(h)) + [index[t] for t in h] for h in histories])
    noise = NoiseStream.keyed(predictor.spec.seed, history_keys(history))
    ids, scores = top_k_items(predictor.model, history, k=7, noise=noise, exclude_history=True)
    assert [r.items for r in found] == [[predictor.vocab.items[i - 1] for i in row] for row in ids.tolist()]
    torch.testing.assert_close(torch.tensor([r.scores for r in found]), scores)


def test_a_history_gets_the_same_recommendations_in_any_batch(predictor: Predictor) -> None:
    histories = [["i1", "i2"], ["i9", "i10", "i11"], [], ["i3"]] * 3
    together = predictor.recommend(histories, k=6)
    reversed_in_fives = predictor.recommend(histories[::-1], k=6, batch_size=5)[::-1]
    assert [r.items for r in reversed_in_fives] == [r.items for r in together]
    # scores agree to float rounding: a matrix product's last bits depend on the batch's shape
    torch.testing.assert_close(torch.tensor([r.scores for r in reversed_in_fives]), torch.tensor([r.scores for r in together]))
    assert together[0].items == together[4].items == together[8].items
    assert together[0].items != together[1].items


def test_unknown_ids_are_skipped_and_counted(predictor: Predictor) -> None:
    with_unknown, known, empty, all_unknown = predictor.recommend(
        [["i1", "nope", "i2", 12345], ["i1", "i2"], [], ["x", "y"]], k=8
    )
    assert (with_unknown.unknown, known.unknown, empty.unknown, all_unknown.unknown) == (2, 0, 0, 2)
    assert with_unknown.items == known.items and with_unknown.scores == known.scores
    assert len(empty.items) == 8 and all_unknown.items == empty.items  # an empty history is answered too


def test_integer_ids_match_the_tokens_of_the_data(trained_run: tuple[Path, object]) -> None:
    predictor = Predictor.from_run(trained_run[0])  # synthetic data: tokens "1", "2", ...
    as_ints, as_text = predictor.recommend([[1, 2, 3], ["1", "2", "3"]], k=5)
    assert as_ints == as_text and as_ints.unknown == 0


def test_only_the_newest_max_len_items_are_the_input(predictor: Predictor) -> None:
    recent = [f"i{n}" for n in range(MAX_LEN)]
    longer = [f"i{n}" for n in range(30, 35)] + recent
    long_result, recent_result = predictor.recommend([longer, recent], k=10, exclude_seen=False)
    assert long_result == recent_result
    assert predictor.recommend([longer[:MAX_LEN]], k=10, exclude_seen=False)[0] != recent_result


def test_seen_items_are_excluded_unless_asked_to_keep_them(predictor: Predictor) -> None:
    history = [f"i{n}" for n in range(25)]  # longer than max_len: i0..i4 are not in the model's input
    (excluded,) = predictor.recommend([history], k=ITEMS)
    (kept,) = predictor.recommend([history], k=ITEMS, exclude_seen=False)
    assert not set(excluded.items) & set(history) and len(excluded.items) == ITEMS - len(history)
    assert len(kept.items) == ITEMS and set(history) <= set(kept.items)


def test_inference_settings_can_be_changed_but_not_the_model(inter_run: Path, predictor: Predictor) -> None:
    x0 = Predictor.from_run(inter_run, "last", ["model.sampler.name=x0", "eval.ensemble=2"])
    assert x0.spec.model.sampler.name == "x0" and x0.spec.eval.ensemble == 2
    assert len(x0.recommend([["i1"]], k=3)[0].items) == 3
    with pytest.raises(SpecError, match="inference settings"):
        Predictor.from_run(inter_run, overrides=["model.hidden=32"])
    with pytest.raises(CheckpointError, match="'best' or 'last'"):
        Predictor.from_run(inter_run, "final")


@pytest.mark.parametrize("histories", ["i1 i2", ["i1", "i2"], [["i1"], 7]])
def test_histories_that_are_not_lists_of_lists_are_refused(predictor: Predictor, histories: object) -> None:
    with pytest.raises(DataError, match="list of"):
        predictor.recommend(histories)


def test_a_run_without_vocabulary_reads_its_data_once_and_saves_it(inter_run: Path, tmp_path: Path) -> None:
    run = shutil.copytree(inter_run, tmp_path / "old")
    (run / VOCAB).unlink()
    with pytest.raises(CheckpointError, match="no vocab.json.*does not exist"):
        Predictor.from_run(run)
    assert not (run / VOCAB).exists()
    moved = inter_run.parent / "elsewhere.inter"
    spec = (run / "spec.yaml").read_text()
    (run / "spec.yaml").write_text(spec.replace(str(inter_run.parent / "shop.inter"), str(moved)))
    old = Predictor.from_run(run)
    assert (run / VOCAB).is_file() and old.vocab == Vocabulary.read(inter_run / VOCAB)


def test_a_vocabulary_of_other_data_or_a_corrupt_one_is_refused(
    inter_run: Path, trained_run: tuple[Path, object], tmp_path: Path
) -> None:
    run = shutil.copytree(inter_run, tmp_path / "run")
    shutil.copy(trained_run[0] / VOCAB, run / VOCAB)
    with pytest.raises(CheckpointError, match="does not belong"):
        Predictor.from_run(run)
    (run / VOCAB).write_text('{"items": [')
    with pytest.raises(CheckpointError, match="could not be read.*Delete it"):
        Predictor.from_run(run)


# The command


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_recommend_on_json_lines_answers_in_the_data_own_ids(inter_run: Path, predictor: Predictor, tmp_path: Path) -> None:
    """The issue's acceptance: a one-epoch quickstart run, then `recdiff recommend` on histories in the data's ids."""
    histories = write_jsonl(tmp_path / "users.jsonl", [
        {"user": "u1", "history": ["i3", "i4", "i5"]}, {"user": 7, "history": ["i9", "nope"]}, {"user": "u3", "history": []},
    ])
    result = invoke("recommend", inter_run, "--input", histories, "--k", 4, "--out", tmp_path / "recs.jsonl")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "recs.jsonl").read_text().splitlines()]
    assert [line["user"] for line in lines] == ["u1", "7", "u3"]
    assert [line["unknown"] for line in lines] == [0, 1, 0]
    expected = predictor.recommend([["i3", "i4", "i5"], ["i9"], []], k=4)
    assert [line["items"] for line in lines] == [r.items for r in expected]
    assert all(item in predictor.vocab.items for line in lines for item in line["items"])
    assert not {"i3", "i4", "i5"} & set(lines[0]["items"])
    assert "3 users, top 4 each (seen items excluded), 1 unknown item ids skipped" in flat(result.output)


def test_recommend_on_rows_grouped_per_user_in_time_order(inter_run: Path, predictor: Predictor, tmp_path: Path) -> None:
    rows = tmp_path / "users.csv"  # u2's rows out of order: time decides
    rows.write_text("user_id,item_id,timestamp\nu2,i8,5\nu1,i3,1\nu2,i6,2\nu1,i4,2\nu2,i7,3\n")
    result = invoke("recommend", inter_run, "--input", rows, "--k", 3, "--include-seen", "--out", tmp_path / "recs.csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "recs.csv", dtype={"user": str, "item": str})
    assert list(table.columns) == ["user", "rank", "item", "score"]
    assert list(table["user"]) == ["u2"] * 3 + ["u1"] * 3 and list(table["rank"]) == [1, 2, 3] * 2
    expected = predictor.recommend([["i6", "i7", "i8"], ["i3", "i4"]], k=3, exclude_seen=False)
    assert list(table["item"]) == expected[0].items + expected[1].items
    assert "seen items included" in flat(result.output)


def test_recommend_on_a_recbole_file_writes_parquet(inter_run: Path, predictor: Predictor, tmp_path: Path) -> None:
    source = write_interactions(tmp_path / "users.inter")  # the training data's own format and ids
    result = invoke("recommend", inter_run, "--input", source, "--out", tmp_path / "recs.parquet")
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "recs.parquet")
    assert table["user"].nunique() == 60 and len(table) == 600 and list(table["rank"][:10]) == list(range(1, 11))
    first = [f"i{(0 * 3 + k) % ITEMS}" for k in range(8)]
    assert list(table["item"][:10]) == predictor.recommend([first], k=10)[0].items
    assert set(table["item"]) <= set(predictor.vocab.items)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.jsonl", None, "does not exist"),
        ("bad.jsonl", '{"user": "u1", "history": ["i1"]}\n{"user": "u2", "history": \n', "line 2: Expecting value"),
        ("bad.jsonl", '{"user": "u1", "items": ["i1"]}\n', "line 1: each line needs a \"user\" and a \"history\""),
        ("bad.csv", "customer,product\nu1,i1\n", "needs the columns 'user_id' and 'item_id'"),
        ("bad.txt", "u1 i1\n", "Cannot tell the format"),
        ("empty.jsonl", "\n", "holds no user"),
    ],
)
def test_bad_input_files_are_clear_errors(inter_run: Path, tmp_path: Path, name: str, text: str | None, message: str) -> None:
    if text is not None:
        (tmp_path / name).write_text(text)
    result = invoke("recommend", inter_run, "--input", tmp_path / name, "--out", tmp_path / "recs.jsonl")
    assert message in assert_clean_failure(result)
    assert not (tmp_path / "recs.jsonl").exists()


def test_bad_outputs_and_runs_are_clear_errors(inter_run: Path, tmp_path: Path) -> None:
    histories = write_jsonl(tmp_path / "users.jsonl", [{"user": "u1", "history": ["i1"]}])
    output = assert_clean_failure(invoke("recommend", inter_run, "--input", histories, "--out", tmp_path / "recs.xlsx"))
    assert "write recommendations to a .jsonl, .csv, .parquet file" in output
    run = shutil.copytree(inter_run, tmp_path / "run")
    (run / "checkpoints" / "best.pt").unlink()
    output = assert_clean_failure(invoke("recommend", run, "--input", histories, "--out", tmp_path / "recs.jsonl"))
    assert "best.pt' does not exist" in output
    output = assert_clean_failure(invoke("recommend", tmp_path, "--input", histories, "--out", tmp_path / "recs.jsonl"))
    assert "is not a recdiff run directory" in output
    assert not (tmp_path / "recs.jsonl").exists()


def test_parquet_output_without_pyarrow_says_how_to_install_it(
    inter_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    histories = write_jsonl(tmp_path / "users.jsonl", [{"user": "u1", "history": ["i1"]}])
    output = assert_clean_failure(invoke("recommend", inter_run, "--input", histories, "--out", tmp_path / "recs.parquet"))
    assert 'pip install "recdiff[parquet]"' in output


def test_histories_are_batched_by_length_within_a_factor_of_two() -> None:
    lengths = [3, 40, 9, 1, 17, 8, 50, 12, 0, 33]
    groups = length_groups(lengths, batch_size=2, narrowest=8)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    assert all(len(group) <= 2 for group in groups)
    for group in groups:
        widths = [lengths[i] for i in group]
        assert max(widths) <= 8 or max(widths) < 2 * min(widths), widths
    assert length_groups(lengths, batch_size=64, narrowest=8) == [[0, 3, 5, 8], [2, 7], [4], [1, 6, 9]]
    assert length_groups(lengths, batch_size=64) == [[0, 2, 3, 5, 7, 8], [4], [1, 6, 9]]
