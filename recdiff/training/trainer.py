"""The trainer: seeded epochs, periodic validation, early stopping, best/last checkpoints, test report."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from rich.console import Console
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel

from recdiff import distributed
from recdiff.data import (
    Batch,
    Split,
    batch_indices,
    joined,
    latest_per_user,
    longest_per_user,
    make_batch,
)
from recdiff.errors import Interrupted, RunError, SpecError
from recdiff.evaluation.evaluate import evaluate_popularity
from recdiff.evaluation.prepared import COMPILED_ATTRIBUTES, Prepared, evaluate_prepared, prepare
from recdiff.models.base import Recommender
from recdiff.progress import Reporter
from recdiff.runtime import autocast, resolve_device
from recdiff.spec.loading import load_spec
from recdiff.spec.models import RunSpec, TrainSpec
from recdiff.training.checkpoint import DATA_LOCATION, check_same_data, edited_fields, load_checkpoint, save_checkpoint
from recdiff.training.environment import environment
from recdiff.training.lock import RunLock
from recdiff.training.loggers import MetricLogger, make_loggers
from recdiff.training.rundir import RunDir, read_metrics
from recdiff.training.vocab import Vocabulary


def make_optimizer(model: torch.nn.Module, train: TrainSpec) -> torch.optim.Optimizer:
    """Adam as the papers train, with PyTorch's fused kernel where the device supports it (same maths, fewer passes)."""
    return torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay, foreach=True)


def make_scheduler(optimizer: torch.optim.Optimizer, train: TrainSpec) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule of `train.lr_schedule`, stepped once an epoch."""
    if train.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=train.epochs)
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=train.lr_step, gamma=train.lr_gamma)


Tensors = tuple[torch.Tensor, ...] | list[torch.Tensor]


def ema_update(train: TrainSpec) -> Callable[[Tensors, Tensors, torch.Tensor | int], None]:
    """The in-place update of the averaged weights with `train.ema`'s decay, warmed up with `train.ema_warmup`.

    ``AveragedModel`` copies the weights at its first update and calls this from the second
    on, once per group of one device and dtype, with ``updates`` the number of updates so far.
    """
    decay, warmup = cast(float, train.ema), train.ema_warmup

    def update(averaged: Tensors, current: Tensors, updates: torch.Tensor | int) -> None:
        n = int(updates) if warmup else 0
        rate = min(decay, (1 + n) / (10 + n)) if warmup else decay
        if averaged[0].is_floating_point() or averaged[0].is_complex():
            torch._foreach_lerp_(list(averaged), list(current), 1.0 - rate)
            return
        for mean, value in zip(averaged, current):  # integer buffers: lerp takes floats only
            mean.copy_(mean * rate + value * (1.0 - rate))

    return update


def training_examples(prepared: Prepared) -> Split:
    """The examples a model trains on: every prefix, or each user's longest one for a model that
    supervises every position (SASRec), where shorter prefixes would only repeat its labels.
    With ``train.fit_on: train+val`` the validation targets are training targets too."""
    split = prepared.splits.train
    if prepared.spec.train.fit_on == "train+val":
        split = joined(split, prepared.splits.val)
    recent = prepared.spec.train.recent
    if prepared.model.supervises_every_position:
        if recent:
            raise SpecError(
                f"train.recent is {recent}, but this model trains every position of each user's longest sequence in "
                "one example, so no example is more recent than another: set train.recent to 0, or use a model "
                "trained on every prefix (architecture diffusion)"
            )
        return longest_per_user(prepared.data, split)
    if recent:
        latest = latest_per_user(prepared.data, split, recent)
        split = joined(split, *[latest] * (prepared.spec.train.recent_weight - 1))
    return split


class _Loss(torch.nn.Module):
    """A model's training loss as its forward pass: DistributedDataParallel synchronises gradients only
    of what runs through ``forward``, and a recommender trains through ``loss``."""

    def __init__(self, model: Recommender) -> None:
        super().__init__()
        self.model = model

    def forward(self, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.model.loss(history, target)


@dataclass
class TrainResult:
    """What a finished run reports; also written to results.json."""

    run_dir: Path
    best_epoch: int
    val: dict[str, float]
    test: dict[str, float]
    popularity: dict[str, dict[str, float]]
    epochs_run: int
    train_seconds: float
    tested: dict[str, Any]
    """Which weights the test split scored: ``{"checkpoint": "best" | "last", "epoch": N}``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "best_epoch": self.best_epoch,
            "val": self.val,
            "test": self.test,
            "popularity": self.popularity,
            "epochs_run": self.epochs_run,
            "train_seconds": self.train_seconds,
            "tested": self.tested,
        }


@dataclass
class RunProgress:
    """Where a run stands after an epoch: all a resumed run needs besides weights and optimiser.

    Attributes:
        epoch: Last finished epoch (0 before the first).
        best: ``{"epoch", "value", "metrics"}`` of the best validation so far.
        stale: Validations since the best one (early stopping counts them).
        seconds: Wall-clock spent training and validating, over every session of the run.
        popularity: The popularity baseline's val and test metrics.
    """

    epoch: int = 0
    best: dict[str, Any] = field(default_factory=lambda: {"epoch": 0, "value": float("-inf"), "metrics": {}})
    stale: int = 0
    seconds: float = 0.0
    popularity: dict[str, dict[str, float]] = field(default_factory=dict)


def as_saved(spec: RunSpec) -> RunSpec:
    """A copy of ``spec`` as a run saves it: data files as absolute paths, so it works from any directory."""
    spec = spec.model_copy(deep=True)
    for setting in ("path", "item_file", "user_file"):
        if getattr(spec.data, setting) is not None:
            setattr(spec.data, setting, Path(os.path.abspath(getattr(spec.data, setting))))
    return spec


RESUME_MAY_CHANGE = (
    "train.device", "train.threads", "train.compile", "train.log_every", "train.loggers",
    "eval.batch_size", "eval.item_chunk", *DATA_LOCATION,
)
"""Spec fields a resumed run may change in spec.yaml: where and how fast it runs and what it logs, not what it computes."""


class Trainer:
    """Trains one spec into one run directory. `fit()` runs it to the end and reports test metrics.

    Make one with `start` (a new run) or `resume` (an interrupted one); both build it through
    `__init__`, which gets the run's parts and sets up its optimisation.

    Args:
        spec: The run's spec, as saved in its directory.
        run: The run directory.
        lock: This process's hold on the run directory, released when `fit` ends (None on the ranks
            other than 0 under torchrun: they never touch the run directory).
        prepared: The spec's data, splits and seeded model.
        console: Where progress is shown (live bars on a terminal, a line every `train.log_every`
            batches elsewhere).
        progress: Where the run stands (a fresh run starts from epoch 0).
        loggers: The loggers of `train.loggers` (default: built here by `make_loggers`).
    """

    def __init__(
        self,
        spec: RunSpec,
        run: RunDir,
        lock: RunLock | None,
        prepared: Prepared,
        console: Console | None = None,
        progress: RunProgress | None = None,
        loggers: list[MetricLogger] | None = None,
    ) -> None:
        self.spec, self.run, self.lock, self.prepared = spec, run, lock, prepared
        main = distributed.is_main()
        self.loggers = (make_loggers(spec) if loggers is None else loggers) if main else []
        self.console = (console or Console()) if main else Console(quiet=True)
        self.reporter = Reporter(self.console, spec.train.log_every)
        self.examples = training_examples(prepared)
        self._build_optimisation()
        self.progress = progress or RunProgress()
        if distributed.world_size() > 1:  # each rank draws its own training noise (a resume restores it)
            torch.manual_seed(distributed.rank_seed(spec.seed))

    @classmethod
    def start(cls, spec: RunSpec, out: str | Path | None = None, console: Console | None = None) -> Trainer:
        """A new run of ``spec`` in ``out`` (default ``runs/<time>-<name>/``), claimed before its data loads.

        Its loggers are built first, so a missing dependency (TensorBoard) stops it before anything is written.
        Under torchrun, rank 0 alone claims the directory and tells the other ranks its path.
        """
        spec = as_saved(spec)
        distributed.setup(resolve_device(spec.train.device))
        if not distributed.is_main():
            run = RunDir(distributed.broadcast(Path()))
            return cls(spec, run, None, prepare(spec), console, loggers=[])
        loggers = make_loggers(spec)
        claim = RunDir.claim(spec, out)  # before the data loads, so a second run is refused at once
        distributed.broadcast(claim.run.path)
        try:  # a spec the data or model refuses (e.g. train.recent on sasrec) leaves no run directory behind
            return cls(spec, claim.run, claim.lock, prepare(spec), console, loggers=loggers)
        except BaseException:
            claim.abandon()
            raise

    @classmethod
    def resume(cls, run_dir: str | Path, console: Console | None = None) -> Trainer:
        """Continue an interrupted run from its last finished epoch, exactly as if it had not stopped.

        Model, optimizer, learning-rate schedule, early-stopping state and the random state
        come from ``checkpoints/last.pt``; each epoch's data order is drawn from (seed, epoch),
        so the remaining epochs see the batches the uninterrupted run would have seen.

        Under torchrun every rank reads the run directory (on several machines it must be shared),
        rank 0 alone locks and writes it, and the run must have as many processes as it started with.

        Raises:
            RunError: The run has no last checkpoint yet, it already finished, another
                process is training into it, or it trained with another number of processes.
        """
        run = RunDir.open(run_dir)
        distributed.setup(resolve_device(load_spec(run.spec_path).train.device))
        lock = RunLock.acquire(run.path) if distributed.is_main() else None
        try:
            return cls._resumed(run, lock, console)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @classmethod
    def _resumed(cls, run: RunDir, lock: RunLock | None, console: Console | None) -> Trainer:
        """The trainer of ``run`` as its last checkpoint left it (rank 0 holds the run's ``lock``)."""
        if run.results_path.is_file():
            raise RunError(
                f"Run '{run.path}' already finished (results.json is there); nothing to resume. Train a new "
                f"run, or `recdiff evaluate {run.path}` to evaluate this one again."
            )
        if not run.last_path.is_file():
            raise RunError(
                f"Run '{run.path}' has no checkpoints/last.pt: it stopped before finishing its first epoch, "
                f"so there is nothing to resume from. Train it again with `recdiff train {run.spec_path} --out NEW_DIR`."
            )
        spec = load_spec(run.spec_path)
        # Read onto the CPU: RNG states must stay CPU tensors, and load_state_dict below moves the
        # weights and optimizer moments onto the model's device, whichever device wrote them.
        state = load_checkpoint(run.last_path)
        _check_unchanged(run, state, spec)
        _check_world_size(run, state)
        loggers = make_loggers(spec) if distributed.is_main() else []
        prepared = prepare(spec)
        check_same_data(state, prepared.data, run.last_path, "resume")
        progress = RunProgress(
            epoch=state["epoch"], best=state["best"], stale=state["stale"], seconds=state["train_seconds"],
            popularity=state["popularity"],
        )
        trainer = cls(spec, run, lock, prepared, console, progress, loggers)
        trainer.model.load_state_dict(state.get("trained", state["model"]))
        if trainer.ema is not None:
            trainer.ema.load_state_dict(state["ema"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"]["ranks"][distributed.rank()] if "ranks" in state["rng"] else state["rng"])
        return trainer

    def _build_optimisation(self) -> None:
        self.model = self.prepared.model
        self.optimizer = make_optimizer(self.model, self.spec.train)
        self.scheduler = make_scheduler(self.optimizer, self.spec.train)
        self.ema: AveragedModel | None = None
        if self.spec.train.ema is not None:
            self.ema = AveragedModel(self.model, multi_avg_fn=ema_update(self.spec.train), use_buffers=True)
            for compiled in COMPILED_ATTRIBUTES:  # the copy would call the trained model's compiled code
                vars(self.ema.module).pop(compiled, None)
        self.parallel: DistributedDataParallel | None = None
        if distributed.world_size() > 1:
            device = self.prepared.device
            self.parallel = DistributedDataParallel(
                _Loss(self.model), device_ids=[device] if device.type == "cuda" else None,
            )

    @property
    def evaluated(self) -> Recommender:
        """The weights that are validated, checkpointed as ``model`` and tested: the average when EMA is on."""
        return self.model if self.ema is None else cast(Recommender, self.ema.module)

    def _state(self, epoch: int, best: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint's content; under torchrun every rank must call it (it gathers their random states)."""
        p, progress = self.prepared, self.progress
        rng = rng_state(p.device)
        averaged = {} if self.ema is None else {"trained": self.model.state_dict(), "ema": self.ema.state_dict()}
        return {
            "model": self.evaluated.state_dict(),
            **averaged,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": epoch,
            "best": best,
            "stale": progress.stale,
            "train_seconds": progress.seconds,
            "popularity": progress.popularity,
            "rng": {**rng, "ranks": distributed.gather(rng)},
            "world_size": distributed.world_size(),
            "spec": self.spec.model_dump(mode="json"),
            "num_items": p.data.num_items,
            "data_fingerprint": p.data.fingerprint(),
        }

    def _evaluate(self, split: str) -> dict[str, float]:
        return evaluate_prepared(self.prepared, split, [self.evaluated], self.reporter)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the (seeded, length-bucketed) training batches.

        Under torchrun every rank draws the same global batches and takes its share of each
        (`distributed.shard`), so every rank runs the same number of steps.
        """
        p, t = self.prepared, self.spec.train
        split = self.examples
        order = batch_indices(
            split, t.batch_size, shuffle=True, bucket=t.bucket,
            generator=np.random.default_rng([self.spec.seed, epoch]),
        )[: t.max_batches]
        self.model.train()
        total_loss, examples, start = 0.0, 0, time.perf_counter()
        non_blocking = p.device.type == "cuda"
        with self.reporter.task(f"epoch {epoch}", len(order)) as progress:
            for step, index in enumerate(order, 1):
                batch, weight = self._share(index, split)
                batch = batch.to(p.device, non_blocking=non_blocking)
                with autocast(p.device, t.precision):
                    if self.parallel is None:
                        loss = self.model.loss(batch.history, batch.target)
                    else:
                        loss = self.parallel(batch.history, batch.target)
                value = loss.item()
                if self.parallel is not None:  # the global batch's mean loss, the same on every rank
                    value = distributed.sum_all([value * weight], p.device)[0] / distributed.world_size()
                    loss = loss * weight
                if not math.isfinite(value):  # before the step: the weights of the last finished epoch stay as saved
                    raise self._diverged(epoch, step, value)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if t.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
                self.optimizer.step()
                if self.ema is not None:
                    self.ema.update_parameters(self.model)
                total_loss += value * len(index)
                examples += len(index)
                rate = examples / (time.perf_counter() - start)
                progress.advance(f"loss {total_loss / examples:.4f}  {rate:,.0f} ex/s")
        seconds = time.perf_counter() - start
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        return {"loss": total_loss / max(examples, 1), "examples": examples, "seconds": seconds,
                "examples_per_s": examples / seconds, "lr": lr}

    def _share(self, index: np.ndarray, split: Split) -> tuple[Batch, float]:
        """This rank's examples of the global batch ``index`` and the weight of their mean loss.

        DistributedDataParallel averages the ranks' gradients, so a rank's mean loss is weighted
        by world size times its share of the batch's loss terms (`Recommender.loss_terms`): the
        average is then the gradient of the global batch's mean loss, as one process computes it.
        A rank left without examples (a last batch smaller than the world) runs one example at
        weight 0, as every rank must take part in each step.
        """
        p = self.prepared
        shard = distributed.shard(index) if self.parallel is not None else index
        batch = make_batch(p.data, split, shard if len(shard) else index[:1])
        if self.parallel is None:
            return batch, 1.0
        terms = self.model.loss_terms(batch.history) if len(shard) else 0
        total = distributed.sum_all([float(terms)], p.device)[0]
        return batch, terms * distributed.world_size() / total

    def _diverged(self, epoch: int, batch: int, loss: float) -> RunError:
        """Log where the loss stopped being finite, and the error that ends the run there."""
        self.log({"event": "diverged", "epoch": epoch, "batch": batch, "loss": str(loss)})
        state, t = self.progress, self.spec.train
        if state.epoch == 0:
            kept = "No epoch finished, so there is no checkpoint."
        elif self.run.best_path.is_file():
            kept = (
                f"Nothing of epoch {epoch} was saved: checkpoints/best.pt still holds epoch {state.best['epoch']} "
                f"and last.pt epoch {state.epoch} (`recdiff evaluate {self.run.path}` tests the best one)."
            )
        else:  # no validation yet (train.eval_first)
            kept = f"Nothing of epoch {epoch} was saved: checkpoints/last.pt still holds epoch {state.epoch}."
        settings = f"train.lr {t.lr:g}" + ("" if t.grad_clip is None else f", train.grad_clip {t.grad_clip:g}")
        return RunError(
            f"Training diverged: the loss was {loss} at epoch {epoch}, batch {batch} ({settings}), and the run "
            f"stopped. {kept} Train a new run with a lower train.lr, or clip gradients (train.grad_clip: 1.0)."
        )

    def fit(self) -> TrainResult:
        """Train, validate, early-stop, then evaluate the best checkpoint on the test split.

        A resumed trainer (:meth:`resume`) carries on from its last finished epoch. The run
        directory stays locked until this returns or raises.
        """
        try:
            return self._fit()
        except KeyboardInterrupt as stop:
            raise self._interrupted(stop) from None
        finally:
            for logger in self.loggers:
                logger.close()
            if self.lock is not None:
                self.lock.release()
            # Drop the DDP wrapper while its process group still exists: torch 2.2's reducer could hang when
            # freed after the group was destroyed (once in five 2-process runs of the quickstart).
            self.parallel = None
            distributed.teardown()

    def _interrupted(self, stop: KeyboardInterrupt) -> Interrupted:
        """The interrupt (Ctrl-C, or SIGTERM through the CLI) with where the run stopped and how to go on."""
        signum = stop.signum if isinstance(stop, Interrupted) else signal.SIGINT
        if self.progress.epoch == 0:
            return Interrupted(
                f"interrupted during epoch 1, before any epoch finished, so there is nothing to resume; "
                f"train again with `recdiff train {self.run.spec_path} --out NEW_DIR`", signum,
            )
        return Interrupted(
            f"interrupted after epoch {self.progress.epoch}; continue with `recdiff train --resume {self.run.path}`",
            signum,
        )

    def log(self, record: dict[str, Any]) -> None:
        """Log one record: to metrics.jsonl, then to every logger of `train.loggers` (rank 0 alone under torchrun)."""
        if not distributed.is_main():
            return
        self.run.log(record)
        for logger in self.loggers:
            logger.log(record)

    def _logged_so_far(self) -> list[dict[str, Any]]:
        """metrics.jsonl's records, less those of epochs after last.pt's and of a test: a run stopped after
        logging an epoch but before saving it trains and logs that epoch again when resumed."""
        try:
            records = read_metrics(self.run.path)
        except ValueError as error:  # a line cut short by a full disk or a kill
            raise RunError(
                f"Run '{self.run.path}' cannot be resumed: its metrics.jsonl has a line that is not JSON ({error}), "
                f"most likely cut short when the run stopped. Delete that line (the resumed run logs its epoch "
                f"again), then resume."
            ) from None
        tests = [r for r in records if r.get("event") == "eval" and r.get("split") == "test"]
        kept = [r for r in records if r.get("epoch", 0) <= self.progress.epoch and r not in tests]
        if len(kept) < len(records):
            self.run.rewrite_metrics(kept)
        return kept

    def _fit(self) -> TrainResult:
        spec, p, run, state = self.spec, self.prepared, self.run, self.progress
        t = spec.train
        self.console.print(
            f"[bold]recdiff[/] {spec.name}: {p.data.num_users:,} users, {p.data.num_items:,} items, "
            f"{len(self.examples):,} training examples, {sum(x.numel() for x in self.model.parameters()):,} "
            f"parameters, device {p.device} → {run.path}"
        )
        if p.report is not None:
            self.console.print(f"data: {p.report.summary()}", highlight=False)
        main = distributed.is_main()
        history = self._logged_so_far() if state.epoch and main else []
        for logger in self.loggers:
            logger.open(run.path, history)
        if main:  # on resume too: a run begun before vocab.json existed gets one
            run.write_vocab(Vocabulary.of(p.data))
        if state.epoch == 0:
            if main:
                run.write_spec(spec)
                run.write_env(environment(p.device, spec.seed))
            state.popularity = {
                split: evaluate_popularity(p.data, getattr(p.splits, split), spec.eval.ks,
                                           spec.eval.batch_size, spec.eval.max_users)
                for split in ("val", "test")
            }
            for split, metrics in state.popularity.items():
                self.log({"event": "baseline", "name": "popularity", "split": split, **metrics})
        else:
            self.log({"event": "resume", "after_epoch": state.epoch})
            self.console.print(f"resuming after epoch {state.epoch} (best so far: epoch {state.best['epoch']})")
        stopped = stops(t, state.epoch, state.stale)
        refit = t.fit_on == "train+val"
        if refit:
            self.console.print("training on the training and validation targets (fit_on: train+val): no validation")
        for epoch in range(state.epoch + 1, t.epochs + 1):
            if stopped:
                break
            started = time.perf_counter()
            stats = self.train_epoch(epoch)
            self.log({"event": "epoch", "epoch": epoch, **stats})
            line = f"epoch {epoch:3d}  loss {stats['loss']:.4f}  {stats['examples_per_s']:,.0f} ex/s"
            improved = False
            if refit:  # nothing to validate on: each epoch's model is the one to test
                state.best, improved = {"epoch": epoch, "value": float("nan"), "metrics": {}}, True
            elif validates(t, epoch):
                val = self._evaluate("val")
                elapsed = state.seconds + time.perf_counter() - started
                self.log({"event": "eval", "split": "val", "epoch": epoch, "elapsed": elapsed, **val})
                value = val[spec.eval.metric]
                line += f"  val {spec.eval.metric} {value:.4f}"
                improved, each = improves(spec.eval.select, spec.eval.metric, val, state.best)
                if improved:
                    state.best, state.stale = {"epoch": epoch, "value": value, "metrics": val, "each": each}, 0
                    line += " *"
                else:
                    state.best["each"] = each
                    state.stale += 1
            state.seconds += time.perf_counter() - started
            saved = self._state(epoch, state.best)
            if main:
                if improved:
                    save_checkpoint(run.best_path, saved)
                save_checkpoint(run.last_path, saved)
            state.epoch = epoch  # once last.pt holds it: an interrupt reports the epoch a resume starts after
            self.console.print(line)
            stopped = stops(t, epoch, state.stale)
            if stopped:
                self.console.print(f"early stop: no better val {spec.eval.metric} for {state.stale} validations")
        tested = spec.eval.test_checkpoint
        tested_path = run.best_path if tested == "best" else run.last_path
        weights = load_checkpoint(tested_path)["model"] if main else None  # rank 0 alone reads the run directory
        self.evaluated.load_state_dict(cast(dict[str, Any], distributed.broadcast(weights)))
        test = self._evaluate("test")
        tested_epoch = state.best["epoch"] if tested == "best" else state.epoch
        self.log({"event": "eval", "split": "test", "epoch": tested_epoch, "checkpoint": tested, **test})
        result = TrainResult(
            run.path, state.best["epoch"], state.best["metrics"], test, state.popularity, state.epoch, state.seconds,
            tested={"checkpoint": tested, "epoch": tested_epoch},
        )
        if main:
            run.write_results(result.to_dict())
        return result


def _check_unchanged(run: RunDir, state: dict[str, Any], on_disk: RunSpec) -> None:
    """Refuse to resume with a spec.yaml edited since the checkpoint: the run would mix two settings."""
    changed = edited_fields(state, on_disk, RESUME_MAY_CHANGE)
    if changed is None:
        raise RunError(
            f"Run '{run.path}' cannot be resumed: its checkpoint was written by an older recdiff whose spec this "
            f"version cannot read. Finish it with the recdiff version that started it, or train it again."
        )
    if changed:
        raise RunError(
            f"Run '{run.path}' cannot be resumed: its spec.yaml was edited after training started "
            f"({'; '.join(changed)}), and a resumed run must go on with the settings its checkpoints were "
            f"trained with. Undo the edit to resume, or train a new run with the edited spec: "
            f"`recdiff train {run.spec_path} --out NEW_DIR`. Only {', '.join(RESUME_MAY_CHANGE)} may change "
            f"when a run is resumed."
        )


def rng_state(device: torch.device) -> dict[str, Any]:
    """This process's random state: the CPU's, and its GPUs' (under torchrun only its own GPU's)."""
    cuda: list[torch.Tensor] = []
    if device.type == "cuda":
        cuda = [torch.cuda.get_rng_state(device)] if distributed.world_size() > 1 else torch.cuda.get_rng_state_all()
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def set_rng_state(rng: dict[str, Any]) -> None:
    """Restore what `rng_state` saved (CUDA states only where CUDA is here)."""
    torch.set_rng_state(rng["cpu"])
    if not rng["cuda"] or not torch.cuda.is_available():
        return
    if distributed.world_size() > 1:
        torch.cuda.set_rng_state(rng["cuda"][0], distributed.local_rank())
    else:
        torch.cuda.set_rng_state_all(rng["cuda"])


def _check_world_size(run: RunDir, state: dict[str, Any]) -> None:
    """Refuse to resume with another number of processes: the noise each rank draws would differ from the run's."""
    trained = state.get("world_size", 1)
    if trained != distributed.world_size():
        command = "recdiff" if trained == 1 else f"torchrun --standalone --nproc_per_node {trained} -m recdiff"
        raise RunError(
            f"Run '{run.path}' trained with {trained} process(es) and is resumed with {distributed.world_size()}; "
            f"a resumed run repeats the uninterrupted one only with the same number. Resume it with "
            f"`{command} train --resume {run.path}` (on several machines, the same total under torchrun)."
        )


def stops(train: TrainSpec, epoch: int, stale: int) -> bool:
    """Whether early stopping ends the run after ``epoch``: `patience` stale validations, not before `min_epochs`."""
    return train.patience is not None and stale >= train.patience and epoch >= train.min_epochs


def validates(train: TrainSpec, epoch: int) -> bool:
    """Whether ``epoch`` (1-based) is validated: the last one, and from `eval_first` every `eval_every`."""
    first = train.eval_first if train.eval_first is not None else train.eval_every
    return epoch == train.epochs or (epoch >= first and (epoch - first) % train.eval_every == 0)


def improves(
    select: str, metric: str, val: dict[str, float], best: dict[str, Any]
) -> tuple[bool, dict[str, float]]:
    """Whether validation ``val`` improves on ``best`` under the selection rule, and the per-metric bests after it.

    `metric`: ``val[metric]`` beats the best value. `any`: some HR@K or NDCG@K beats the best
    that metric has reached in any validation so far (not necessarily in the same one), the
    original DiffuRec code's rule.
    """
    each = dict(best.get("each", {}))
    if select == "metric":
        return val[metric] > best["value"], each
    tracked = [name for name in val if name.startswith(("hr@", "ndcg@"))]
    improved = any(val[name] > each.get(name, float("-inf")) for name in tracked)
    each.update({name: max(val[name], each.get(name, float("-inf"))) for name in tracked})
    return improved, each


def train(spec: RunSpec, out: str | Path | None = None, console: Console | None = None) -> TrainResult:
    """Train `spec` into a new run directory and return its results (the library's one training entry point)."""
    return Trainer.start(spec, out, console).fit()


def resume(run_dir: str | Path, console: Console | None = None) -> TrainResult:
    """Finish an interrupted run in `run_dir` exactly as an uninterrupted one would have (see `Trainer.resume`)."""
    return Trainer.resume(run_dir, console).fit()
