"""Run the original DiffuRec code (../shared/reference/diffurec) and log what recdiff logs.

The original prints the loss of one batch per epoch; a side-by-side comparison needs the
epoch's mean training loss and every validation. This script runs the original ``main.py``
unchanged in a scratch copy and only watches it: it wraps the loss method to average the
epoch's batch losses, the metric function to collect each validation's per-batch metrics, and
``print`` to see where epochs and validations begin and end.

    OMP_NUM_THREADS=1 python benchmarks/reference_run.py --out runs/reference/seed-42 \
        -- --device cpu --schedule_sampler_name uniform --epochs 4 --eval_interval 1 --random_seed 42

``--users N`` validates and tests the first N users only (the same users as recdiff's
``eval.max_users=N``), to fit a side-by-side run into a session. Arguments after ``--`` go to
the original ``main.py`` as they are; ``--dataset`` picks the
release pickle (``amazon_beauty`` → ``diffurec-beauty.pkl``, ``ml-1m`` → ``diffurec-ml-1m.pkl``).
The log ``OUT/reference.jsonl`` has the form of a recdiff run's ``metrics.jsonl``
(`benchmarks/side_by_side.py` reads both): one object per epoch (``epoch``, 1-based like recdiff's,
``loss`` = the epoch's mean batch loss, ``seconds``) and one per validation or test (``split``,
the six metrics as fractions averaged over users as recdiff does, and ``reported_*``: the
original's own figure, a mean of per-batch means). The original validates after epoch
``e`` (0-based) only when ``e % eval_interval == 0 and e != 0``, so never after the first.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import runpy
import shutil
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
PICKLES = {"amazon_beauty": "diffurec-beauty.pkl", "ml-1m": "diffurec-ml-1m.pkl"}


def main() -> None:
    argv = sys.argv[1:]
    ours, theirs = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for the scratch copy and the log.")
    parser.add_argument("--reference", type=Path, default=SHARED / "reference" / "diffurec", help="Original code.")
    parser.add_argument("--users", type=int, help="Validate and test only the first N users (recdiff: eval.max_users=N).")
    args = parser.parse_args(ours)
    args.out = args.out.resolve()
    dataset = theirs[theirs.index("--dataset") + 1] if "--dataset" in theirs else "amazon_beauty"

    args.out.mkdir(parents=True, exist_ok=True)
    src = args.out / "src"
    if not src.exists():
        shutil.copytree(args.reference / "src", src)
    data = args.out / "datasets" / "data" / dataset
    data.mkdir(parents=True, exist_ok=True)
    if not (data / "dataset.pkl").exists():
        shutil.copy(SHARED / "data" / "downloads" / PICKLES[dataset], data / "dataset.pkl")

    log = (args.out / "reference.jsonl").open("a")
    sys.path.insert(0, str(src))
    os.chdir(src)
    import model as reference_model  # the original's module, from the scratch copy
    import trainer as reference_trainer

    losses: list[float] = []
    started = [time.perf_counter()]
    epoch = [0]
    validating = [False]
    batches: list[tuple[int, dict[str, float]]] = []
    with open(data / "dataset.pkl", "rb") as f:
        users = len(pickle.load(f)["val"])
    if args.users is not None:  # the original's loaders take len(dataset): cut both to the first N sorted users
        users = min(users, args.users)
        import utils as reference_utils

        for dataset in (reference_utils.ValDataset, reference_utils.TestDataset):
            dataset.__len__ = lambda self, n=users: min(n, len(self.users))
    batch_size = int(theirs[theirs.index("--batch_size") + 1]) if "--batch_size" in theirs else 512
    per_split = -(-users // batch_size)
    loss_method = reference_model.Att_Diffuse_model.loss_diffu_ce
    metric_method = reference_trainer.hrs_and_ndcgs_k

    def write(record: dict[str, object]) -> None:
        log.write(json.dumps({**record, "seconds": round(time.perf_counter() - started[0], 1)}) + "\n")
        log.flush()

    def watched_loss(self, rep_diffu, labels):  # type: ignore[no-untyped-def]
        loss = loss_method(self, rep_diffu, labels)
        losses.append(loss.item())
        return loss

    def watched_metrics(scores, labels, ks):  # type: ignore[no-untyped-def]
        metrics = metric_method(scores, labels, ks)
        batches.append((labels.shape[0], metrics))
        if len(batches) == per_split:
            n = sum(size for size, _ in batches)
            record: dict[str, object] = {"event": "eval", "split": "val" if validating[0] else "test", "epoch": epoch[0]}
            for key in metrics:
                record[key.lower()] = sum(size * m[key] for size, m in batches) / n
                record[f"reported_{key.lower()}"] = sum(m[key] for _, m in batches) / len(batches)
            write(record)
            batches.clear()
            validating[0] = False
        return metrics

    def watched_print(*values: object, **kwargs: object) -> None:
        print(*values, **kwargs, flush=True)
        text = " ".join(str(v) for v in values)
        if text.startswith("Epoch:"):
            started[0] = time.perf_counter()
        elif text.startswith("loss in epoch"):
            epoch[0] += 1
            write({"event": "epoch", "epoch": epoch[0], "loss": sum(losses) / len(losses), "batches": len(losses)})
            losses.clear()
        elif text.startswith("start predicting"):
            validating[0] = True

    reference_model.Att_Diffuse_model.loss_diffu_ce = watched_loss
    reference_trainer.hrs_and_ndcgs_k = watched_metrics
    reference_trainer.print = watched_print

    sys.argv = ["main.py", *theirs]
    runpy.run_path("main.py", run_name="__main__")
    log.close()


if __name__ == "__main__":
    main()
