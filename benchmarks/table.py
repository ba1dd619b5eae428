"""Markdown tables of finished runs, read from their files, so result tables are never retyped.

    python benchmarks/table.py ROW [--label NAME] [ROW [--label NAME] ...] [--split test] [--val] [--mean]
        [--header NAME] [--columns best,epochs,minutes] [--in FOLDER]
    python benchmarks/table.py --settings SAMPLERS.json [--label NAME ...]
    python benchmarks/table.py RUN [--label NAME] ... --inference x0,ddim4,ddpm [--split val] [--metrics ndcg@10]
    python benchmarks/table.py --compare COMPARE.json [--label A --label B]
    python benchmarks/table.py --groups analysis.json [--label NAME ...] [--metrics hr@10,ndcg@10]
    python benchmarks/table.py --docs docs/results.md [--write]

Each ROW is one table row, in order (paths relative to ``--in``):

- a run directory: its ``results.json``. A run stopped before its last epoch
  (``benchmarks/gpu_paper.sh`` stops runs at the end of its budget) has none: its row is read
  from ``metrics.jsonl`` and the test metrics of its best checkpoint in ``test-at-stop.json``,
  and its epochs read "N of M, stopped";
- an ensemble's ``test.json`` (``recdiff evaluate RUN... --json``), with its ``val.json``
  beside it when it was validated;
- ``mean:RUN,RUN,...``: mean ± sample standard deviation over those runs;
- ``popularity:RUN``: the popularity baseline that run's ``results.json`` recorded;
- ``paper:NAME``: a published figure (``PAPERS``), which no file here holds.

Each row has the label (the last path part unless ``--label`` gives one per row), HR@K and
NDCG@K of the split (``--metrics`` picks which), ``--val``'s best validation HR@10 and NDCG@10, then the ``--columns``:
the best epoch, the epochs run and the minutes spent (training and validation), and from the
validation curve of ``--curve`` (``benchmarks/curves.py``): its value at epoch N (``epoch:N``),
the epoch and minutes it first reached a level (``reach:LEVEL``) and its highest value (``peak``).

A `benchmarks/speed.py --json` result is a row too, with the columns ``train`` (examples/s),
``infer:SAMPLER`` (users/s), ``rss`` (peak resident memory) and ``epoch_time`` (the projected
training epoch); ``original:NAME`` rows give the original code's throughput (``ORIGINAL``), and
each speed row below one gives its ratio to it. A side-by-side result (``speed.py --preset a,b``)
gives one row per preset as ``FILE.json#PRESET``; its first preset's row is the one the rows
below it are compared to.

``--inference TAG,TAG,...`` makes each run directory's row a grid of inference settings: for each
TAG a column per metric and one of the evaluation's seconds, read from ``RUN/<split>-TAG.json``
(``recdiff evaluate RUN --split SPLIT --json`` with that setting).

``--settings`` tabulates the inference settings ``benchmarks/samplers.py --json`` evaluated on one run;
``--compare`` tabulates the paired t-test of two groups of seeds that ``recdiff compare --json``
wrote, metric by metric; ``--groups`` the user groups of ``recdiff analyze``'s ``analysis.json``.

``--docs`` checks every table of a page between ``<!-- table: python benchmarks/table.py ARGS -->``
(or another table generator of ``GENERATORS``: ``side_by_side.py``, ``scale.py``, ``serve.py``) and ``<!-- /table -->``
against what the command prints now, and names each row that differs; ``--write`` rewrites those
tables instead.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scale  # benchmarks/scale.py, beside this script
import serve  # benchmarks/serve.py, beside this script
import side_by_side  # benchmarks/side_by_side.py, beside this script
import yaml
from curves import curve  # benchmarks/curves.py, beside this script

from recdiff.training.rundir import read_metrics

METRICS = ("hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20")
COLUMNS = {"best": "best epoch", "epochs": "epochs", "minutes": "minutes"}
REPO = Path(__file__).resolve().parent.parent
PAPERS: dict[str, tuple[float, ...]] = {  # test HR@5, @10, @20, NDCG@5, @10, @20 published by DiffuRec (TOIS 2023), DiffuRecSys
    "diffurec-beauty": (0.0557, 0.0790, 0.1110, 0.0400, 0.0475, 0.0556),
    "diffurecsys-beauty": (0.0667, 0.0980, 0.1400, 0.0458, 0.0559, 0.0665),
    "diffurec-ml-1m": (0.1797, 0.2626, 0.3679, 0.1212, 0.1479, 0.1744),
    "diffurecsys-ml-1m": (0.1957, 0.2843, 0.3958, 0.1319, 0.1605, 0.1886),
}
ORIGINAL = {  # the original research code, timed by hand on the same CPU and settings (2026-11-27); no file holds these
    "diffurec": {"train": 144.0, "infer:ddpm": 34.0},
    "diffurecsys": {"train": 62.0, "infer:ddpm": 13.0},
}
MARKED = re.compile(r"<!-- table: (?P<command>.*?) -->\n(?P<body>.*?)<!-- /table -->", re.DOTALL)
FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)  # a code block, where a marker is only an example


def stopped_results(run_dir: Path) -> tuple[dict, dict[str, str]]:
    """The results of a run stopped early: its validations so far and the test of its best checkpoint."""
    spec = yaml.safe_load((run_dir / "spec.yaml").read_text())
    metric = spec["eval"]["metric"]
    rows = read_metrics(run_dir)
    evals = [r for r in rows if r.get("event") == "eval" and r.get("split") == "val"]
    best = max(evals, key=lambda r: r[metric])
    results = {"val": best, "test": json.loads((run_dir / "test-at-stop.json").read_text())}
    runs = {"best": str(best["epoch"]), "epochs": f"{len(evals)} of {spec['train']['epochs']}, stopped",
            "minutes": f"{evals[-1]['elapsed'] / 60:.0f}"}
    return results, runs


def results_of(path: Path, split: str) -> tuple[dict, dict[str, str]]:
    """A run directory's or an ensemble evaluation's results, and its best epoch, epochs and minutes."""
    if path.is_dir() and not (path / "results.json").is_file() and (path / "test-at-stop.json").is_file():
        return stopped_results(path)
    if path.is_dir():
        results = json.loads((path / "results.json").read_text())
        runs = {"best": str(results["best_epoch"]), "epochs": str(results["epochs_run"]),
                "minutes": f"{results['train_seconds'] / 60:.0f}"}
        return results, runs
    val = path.parent / "val.json"  # an ensemble's `recdiff evaluate --json` output: <split>.json, with val.json if validated
    return {"val": json.loads(val.read_text()) if val.is_file() else {}, split: json.loads(path.read_text())}, {}


def cells(source: str, split: str, root: Path) -> dict[str, str]:
    """One row's cells by column (metric names, ``val hr@10``, ``val ndcg@10`` and ``COLUMNS``); absent ones are empty."""
    kind, _, rest = source.partition(":")
    if kind == "paper":
        return {m: f"{v:.4f}" for m, v in zip(METRICS, PAPERS[rest])}
    if kind == "popularity":
        results = json.loads((root / rest / "results.json").read_text())
        return {m: f"{results['popularity'][split][m]:.4f}" for m in METRICS}
    if kind == "mean":
        values = [results_of(root / run, split)[0][split] for run in rest.split(",")]
        return {m: f"{np.mean(c):.4f} ± {np.std(c, ddof=1):.4f}" for m in METRICS for c in [[v[m] for v in values]]}
    results, runs = results_of(root / source, split)
    row = {m: f"{results[split][m]:.4f}" for m in METRICS} | runs
    val = results["val"]
    return row | ({f"val {m}": f"{val[m]:.4f}" for m in ("hr@10", "ndcg@10")} if val else {})


def speed_figures(source: str, root: Path) -> dict[str, float] | None:
    """The throughput of an ``original:NAME`` row or of a `benchmarks/speed.py --json` result, by column; None for other rows."""
    if source.startswith("original:"):
        return ORIGINAL[source.partition(":")[2]]
    file, _, preset = source.partition("#")
    path = root / file
    result = json.loads(path.read_text()) if path.suffix == ".json" and path.is_file() else {}
    if preset:
        result = next(run for run in result["runs"] if run["spec"]["preset"] == preset)
    if "train_examples_per_s" not in result:
        return None
    infer = {f"infer:{sampler}": value for sampler, value in result["infer_users_per_s"].items()}
    return {"train": result["train_examples_per_s"], "rss": result["peak_rss_mib"],
            "epoch_time": result["train"]["epoch_seconds_estimate"], **infer}


def is_side_by_side_baseline(source: str, root: Path) -> bool:
    """Whether ``FILE.json#PRESET`` names the first preset of a side-by-side speed result."""
    file, _, preset = source.partition("#")
    return bool(preset) and json.loads((root / file).read_text())["runs"][0]["spec"]["preset"] == preset


def curve_cells(run: Path, columns: list[str], metric: str) -> dict[str, str]:
    """The ``epoch:N``, ``reach:LEVEL`` and ``peak`` cells, from the run's validation curve as curves.py reads it."""
    reach = [c for c in columns if c.startswith("reach:")]
    found = curve(run, metric, [float(c.partition(":")[2]) for c in reach])
    by_epoch = {p["epoch"]: p[metric] for p in found["points"]}
    last = found["points"][-1]
    never = f"never ({last['epoch']} epochs, {last['seconds'] / 60:.1f} min)"
    row = {c: f"{by_epoch[int(c.partition(':')[2])]:.4f}" for c in columns if c.startswith("epoch:")}
    row |= {c: f"epoch {r['epoch']}, {r['seconds'] / 60:.1f} min" if r["epoch"] else never for c, r in zip(reach, found["reach"])}
    return row | {"peak": f"{found['best']:.4f}"}


def heading(column: str, metric: str) -> str:
    kind, _, value = column.partition(":")
    named = {"epoch": f"epoch {value}", "reach": f"val {title(metric)} first at {value}", "peak": f"highest val {title(metric)}",
             "train": "training, examples/s", "infer": f"inference, users/s, `{value}`", "rss": "peak resident memory",
             "epoch_time": "training epoch, projected"}
    return named.get(kind) or COLUMNS.get(column) or title(column)


def default_label(source: str) -> str:
    if source.startswith("mean:"):
        return f"mean ± std ({len(source.split(','))} runs)"
    return Path(source.partition(":")[2] if source.startswith(("paper:", "popularity:", "original:")) else source).name


def table(argv: list[str], root: Path = Path(".")) -> list[str]:
    """The table's lines for ``argv`` (the command line without the script), run paths taken from ``root``."""
    parser = argparse.ArgumentParser(prog="benchmarks/table.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="*")
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--val", action="store_true", help="Add the best validation HR@10 and NDCG@10.")
    parser.add_argument("--label", action="append", default=[], help="Row label, one per row in order.")
    parser.add_argument("--mean", action="store_true", help="End with a row of mean ± sample std over the runs.")
    parser.add_argument("--header", default="run", help="The first column's heading.")
    parser.add_argument("--columns", default="best,epochs,minutes",
                        help="Comma-separated, from: " + ", ".join(COLUMNS) + "; epoch:N, reach:LEVEL, peak from the --curve")
    parser.add_argument("--curve", default="hr@10", help="The validation metric of the epoch:, reach: and peak columns.")
    parser.add_argument("--metrics", default=",".join(METRICS), help="Comma-separated, from: " + ", ".join(METRICS))
    parser.add_argument("--in", dest="folder", type=Path, default=Path("."), help="The folder row paths are relative to.")
    parser.add_argument("--compare", type=Path, help="Instead of rows: the paired t-test `recdiff compare --json` wrote.")
    parser.add_argument("--groups", type=Path, help="Instead of rows: the groups of `recdiff analyze`'s analysis.json.")
    parser.add_argument("--settings", type=Path, help="Instead of rows: the settings `benchmarks/samplers.py --json` evaluated.")
    parser.add_argument("--inference", help="Comma-separated tags: columns read from each run's <split>-TAG.json.")
    args = parser.parse_intermixed_args(argv)  # so that each --label may follow its row
    root = root / args.folder
    metrics = [m for m in args.metrics.split(",") if m]
    if args.compare:
        return compare_table(json.loads((root / args.compare).read_text()), metrics, args.label)
    if args.groups:
        return groups_table(json.loads((root / args.groups).read_text()), metrics, args.label, args.header)
    if args.settings:
        return settings_table(json.loads((root / args.settings).read_text()), args.label, args.header)
    if not args.rows:
        parser.error("give the rows, --compare, --groups or --settings")
    if args.inference:
        return inference_table(args.rows, args.label, args.header, args.inference.split(","), metrics, args.split, root)
    rows = args.rows + (["mean:" + ",".join(args.rows)] if args.mean else [])
    if args.label and len(args.label) not in (len(args.rows), len(rows)):
        raise SystemExit("give one --label per row, or none")
    labels = args.label + [default_label(row) for row in rows[len(args.label):]]
    columns = metrics + (["val hr@10", "val ndcg@10"] if args.val else [])
    columns += filter(None, args.columns.split(","))
    on_curve = [c for c in columns if c == "peak" or c.startswith(("epoch:", "reach:"))]
    body = []
    against: dict[str, float] = {}  # the last original:NAME row, which the speed rows below it are compared to
    for row, label in zip(rows, labels):
        figures = speed_figures(row, root)
        if figures is None:
            found = cells(row, args.split, root)
        else:
            found = {c: f"{v:,.0f}" + (" MiB" if c == "rss" else "") for c, v in figures.items()}
            if "epoch_time" in figures:
                found["epoch_time"] = f"{figures['epoch_time'] / 60:,.1f} min"
            if row.startswith("original:") or is_side_by_side_baseline(row, root):
                against = figures
            else:
                found |= {c: f"{found[c]} ({figures[c] / against[c]:.0f}×)" for c in against
                          if c in figures and c not in ("rss", "epoch_time")}
        if on_curve and (root / row).is_dir():
            found |= curve_cells(root / row, on_curve, args.curve)
        body.append([label, *(found.get(c, "") for c in columns)])
    return markdown([args.header, *(heading(c, args.curve) for c in columns)], body)


def compare_table(compare: dict, metrics: list[str], labels: list[str]) -> list[str]:
    """Two groups of seeds, metric by metric: mean ± std of each, the difference and the paired t-test's p."""
    a, b = labels or [compare["a"]["name"], compare["b"]["name"]]
    degrees = {test["df"] for test in compare["metrics"].values()}.pop()
    rows = [[title(m), f"{t['a_mean']:.4f} ± {t['a_std']:.4f}", f"{t['b_mean']:.4f} ± {t['b_std']:.4f}",
             f"{t['difference']:.4f}", f"{t['p']:.3f}"] for m in metrics for t in [compare["metrics"][m]]]
    return markdown(["metric", a, b, "difference", f"p (paired t, {degrees} df)"], rows)


def groups_table(analysis: dict, metrics: list[str], labels: list[str], header: str) -> list[str]:
    """The metrics of each group of users `recdiff analyze` formed (target popularity, then history length)."""
    groups = [group for kind in analysis["groups"].values() for group in kind]
    if labels and len(labels) != len(groups):
        raise SystemExit(f"give one --label per group ({len(groups)}), or none")
    rows = [[label, f"{g['count']:,}", *(f"{g[m]:.4f}" for m in metrics)]
            for g, label in zip(groups, labels or [g["group"] for g in groups])]
    return markdown([header, "users", *map(title, metrics)], rows)


def inference_table(
    runs: list[str], labels: list[str], header: str, tags: list[str], metrics: list[str], split: str, root: Path
) -> list[str]:
    """Each run's metrics under several inference settings: per setting a column per metric, then its seconds."""
    if labels and len(labels) != len(runs):
        raise SystemExit("give one --label per row, or none")
    body = []
    for run, label in zip(runs, labels or [default_label(run) for run in runs]):
        found = {tag: json.loads((root / run / f"{split}-{tag}.json").read_text()) for tag in tags}
        body.append([label, *(cell for t in tags for cell in [*(f"{found[t][m]:.4f}" for m in metrics),
                                                               f"{found[t]['seconds']:.0f}"])])
    return markdown([header, *(c for t in tags for c in [*(f"{t} {title(m)}" for m in metrics), f"{t} s"])], body)


def settings_table(result: dict, labels: list[str], header: str) -> list[str]:
    """Each inference setting `benchmarks/samplers.py --json` evaluated on one run: HR@10, NDCG@10, change from the first."""
    settings = result["settings"]
    if labels and len(labels) != len(settings):
        raise SystemExit(f"give one --label per setting ({len(settings)}), or none")
    rows = [[label, f"{s['metrics']['hr@10']:.4f}", f"{s['metrics']['ndcg@10']:.4f}",
             f"{s['relative']['hr@10']:+.2%}, {s['relative']['ndcg@10']:+.2%}"]
            for label, s in zip(labels or settings, settings.values())]
    return markdown([header, "HR@10", "NDCG@10", f"vs {next(iter(settings))} (HR@10, NDCG@10)"], rows)


def title(metric: str) -> str:
    return metric.replace("hr", "HR").replace("ndcg", "NDCG")


def markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table, the first column left-aligned and the others right-aligned."""
    lines = ["| " + " | ".join(row) + " |" for row in [header, *rows]]
    return [lines[0], "|---|" + "---:|" * (len(header) - 1), *lines[1:]]


def marked_tables(text: str) -> list[tuple[re.Match[str], Callable[[list[str], Path], list[str]], list[str]]]:
    """Each marked table of a page, the generator its command runs, and the command's arguments."""
    fences = [fence.span() for fence in FENCED.finditer(text)]
    found = []
    for match in MARKED.finditer(text):
        if any(start <= match.start() < end for start, end in fences):
            continue
        command = shlex.split(match["command"])
        if command[0] != "python" or command[1] not in GENERATORS:
            raise SystemExit(f"a marked table's command must be 'python' and one of {', '.join(GENERATORS)}: {match['command']}")
        found.append((match, GENERATORS[command[1]], command[2:]))
    return found


def check_docs(doc: Path, write: bool = False, root: Path = REPO) -> list[str]:
    """Where ``doc``'s marked tables differ from their files, one entry per differing run of rows; ``write`` rewrites them."""
    text = doc.read_text(encoding="utf-8")
    differences: list[str] = []
    pieces: list[str] = []
    end = 0
    for match, generate, argv in marked_tables(text):
        expected = generate(argv, root)
        found = match["body"].strip("\n").split("\n")
        first = text.count("\n", 0, match.start("body")) + 1
        headings = re.findall(r"^#+ (.*)$", text[: match.start()], re.MULTILINE)
        name = f"{doc}, the table under '{headings[-1] if headings else doc.name}'"
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, found, expected, autojunk=False).get_opcodes():
            if tag != "equal":
                page = "".join(f"\n    line {first + i}: {found[i]}" for i in range(i1, i2)) or " (nothing)"
                files = "".join(f"\n    {row}" for row in expected[j1:j2]) or " (nothing)"
                differences.append(f"{name}: the page has{page}\n  the files give{files}")
        pieces += [text[end : match.start("body")], "\n".join(expected) + "\n"]
        end = match.end("body")
    if write:
        doc.write_text("".join(pieces) + text[end:], encoding="utf-8")
    return differences


GENERATORS: dict[str, Callable[[list[str], Path], list[str]]] = {
    "benchmarks/table.py": table,
    "benchmarks/side_by_side.py": side_by_side.table,  # the original code's log beside a run's, epoch by epoch
    "benchmarks/scale.py": scale.table,  # memory and speed of each training loss on a large catalogue
    "benchmarks/serve.py": serve.table,  # throughput and latency of `recdiff serve` under load
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--docs"]:
        parser = argparse.ArgumentParser(prog="benchmarks/table.py --docs")
        parser.add_argument("--docs", type=Path, nargs="+", required=True, help="Pages whose marked tables to check.")
        parser.add_argument("--write", action="store_true", help="Rewrite the marked tables from the files.")
        args = parser.parse_args(argv)
        differences = [d for doc in args.docs for d in check_docs(doc, args.write)]
        if differences:
            print(("rewritten from the files:\n" if args.write else "") + "\n".join(differences))
        else:
            print("every marked table agrees with its files")
        if differences and not args.write:
            raise SystemExit(1)
        return
    print("\n".join(table(argv)))


if __name__ == "__main__":
    main()
