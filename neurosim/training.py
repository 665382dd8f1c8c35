"""The training loop: epochs of shuffled minibatches, evaluation, metrics and checkpoints.

The loop is the same for every engine. Each epoch it draws a permutation of the training
set and one sign of beta per minibatch from a generator seeded with ``training.seed``,
hands stretches of minibatches to the engine, checks the parameters for NaN or infinity,
evaluates the test set with the feedforward pass (``s^f``) and after settling (``s-``), and
writes metrics and a checkpoint. Training errors are counted during the epoch, on each
minibatch before its update.

A checkpoint is written before the first minibatch and after every epoch. Ctrl-C (SIGINT),
SIGTERM or SIGHUP stops at the next stretch boundary after writing a checkpoint of the
partial epoch; ``resume=True`` continues from the last checkpoint and, with the same seed, engine
and configuration, gives the same metrics as an uninterrupted run.
"""

import logging
import math
import platform
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainingConfig, config_to_toml, load_config, validate_training
from .data import load_dataset, one_hot, validate_dataset
from .engines import make_engine
from .engines.base import TrainStats
from .errors import (
    CheckpointError,
    ConfigError,
    DivergenceError,
    NeurosimError,
    RunDirectoryError,
)
from .network import Network
from .rundir import RunDirectory, software_versions

__all__ = ["Trainer", "train", "TrainingInterrupted", "RESIDUAL_WARNING"]

logger = logging.getLogger(__name__)

#: Mean |ds/dt| at the end of the negative phase above which the log warns that settling
#: has not converged (states change by more than 1 % of their range per tau).
RESIDUAL_WARNING = 1e-2


class TrainingInterrupted(NeurosimError):
    """Training stopped on a signal after writing a checkpoint of the partial epoch."""

    exit_code = 130


@dataclass
class _EpochState:
    epoch: int
    next_batch: int = 0
    rng_state: dict = field(default_factory=dict)
    stats: TrainStats = field(default_factory=TrainStats)
    seconds: float = 0.0


def _minibatch_label(epoch, first, last):
    """Name minibatches ``first..last`` (1-based) of ``epoch`` (0-based) for messages."""
    batches = f"minibatch {last}" if first == last else f"minibatches {first} to {last}"
    return f"epoch {epoch + 1}, {batches}"


def _parameter_label(name):
    """Name a parameter of :meth:`Network.parameters` by its symbol and layer."""
    group, index = name.rsplit("_", 1)
    symbol = {"weights": "W", "biases": "b", "ff_weights": "Phi", "ff_biases": "c"}[group]
    layer = int(index) + 1
    return f"{symbol}_{layer} (layer {layer})"


class Trainer:
    """Train a network of ``config`` with one engine, writing everything into ``run_dir``.

    Parameters
    ----------
    config : Config
    run_dir : path-like
    engine : str
        "brian2" or "dense".
    resume : bool
        Continue the run in ``run_dir`` from its checkpoint.
    force : bool
        Start over even if ``run_dir`` already contains a run.
    max_samples : int, optional
        Train on only the first ``max_samples`` training samples each epoch.
    progress : bool or None
        Show a progress bar; None shows it only on a terminal.
    engine_options : dict, optional
        Passed to the engine's constructor.
    """

    def __init__(self, config, run_dir, engine="dense", resume=False, force=False,
                 max_samples=None, progress=None, engine_options=None):
        self.config = config
        self.run = RunDirectory(run_dir)
        self.engine_name = engine
        self.resume = resume
        self.force = force
        self.max_samples = max_samples
        self.progress = progress
        self.engine_options = engine_options or {}
        self._stop_signal = None
        self._metrics = []
        config.validate(warn=False)
        validate_training(config)
        if resume and force:
            raise ConfigError("--resume and --force exclude each other: --resume continues the "
                              "run, --force starts it over. Pass one of them.")
        if max_samples is not None and max_samples <= 0:
            raise ConfigError(f"--max-samples {max_samples} is invalid: give a positive number.")

    # --- set-up -----------------------------------------------------------------------------

    def _prepare(self):
        """Check the run directory, then return (network, epoch state or None).

        A new run gets a freshly initialized network and None; nothing is deleted yet.
        """
        run = self.run
        if self.resume:
            if not run.checkpoint_path.exists():
                if run.holds_run():
                    raise CheckpointError(f"{run.path} has no checkpoint to resume from: the run "
                                          "stopped before its first checkpoint. Start over with --force.")
                raise CheckpointError(f"nothing to resume in {run.path}: it contains no run. Drop "
                                      "--resume to start a new run.")
            network, state = load_checkpoint(run.checkpoint_path)
            self._check_resume_config(state, network)
            try:
                self._metrics = list(state["metrics"])
                epoch_state = _EpochState(epoch=int(state["epoch"]),
                                          next_batch=int(state["next_batch"]),
                                          rng_state=dict(state["rng_state"]),
                                          stats=TrainStats(**state["stats"]),
                                          seconds=float(state["epoch_seconds"]))
            except (TypeError, ValueError) as exc:
                raise CheckpointError(f"checkpoint {run.checkpoint_path} has an invalid training "
                                      f"state ({exc}). Start over with --force.") from None
            if epoch_state.epoch >= self.config.training.epochs:
                logger.info("%s already finished its %d epochs: nothing to train (raise "
                            "--epochs to extend it)", run.path, epoch_state.epoch)
            else:
                logger.info("resuming %s at epoch %d, minibatch %d", run.path,
                            epoch_state.epoch + 1, epoch_state.next_batch + 1)
            return network, epoch_state
        if run.holds_run() and not self.force:
            raise RunDirectoryError(f"{run.path} already contains a run: continue it with --resume, "
                                    "start over with --force, or choose another --out.")
        network = Network.initialize(self.config.network.layers, seed=self.config.training.seed,
                                     dtype=np.dtype(self.config.training.dtype))
        return network, None

    def _clear_previous_run(self):
        """Delete the results of the run that --force replaces."""
        run = self.run
        logger.warning("--force: starting %s over; its previous checkpoint and metrics are "
                       "deleted", run.path)
        for path in (run.checkpoint_path, run.metrics_csv, run.metrics_json, run.info_path):
            path.unlink(missing_ok=True)

    def _check_resume_schedule(self, saved, state):
        """Allow a new learning-rate schedule only where it leaves the trained epochs alone.

        A resumed run may add or change ``eta_decay`` and ``eta_decay_start`` (an annealing
        tail for a finished run, for example) as long as every epoch it has trained, the one
        in progress included, keeps the rate factor it was trained with.
        """
        defaults = TrainingConfig()
        before = TrainingConfig(eta_decay=saved.get("eta_decay", defaults.eta_decay),
                                eta_decay_start=saved.get("eta_decay_start",
                                                          defaults.eta_decay_start))
        now = self.config.training
        trained = int(state.get("epoch", 0)) + (1 if state.get("next_batch", 0) else 0)
        epochs = range(1, trained + 1)
        for epoch in epochs:
            if not math.isclose(before.rate_scale(epoch), now.rate_scale(epoch), rel_tol=1e-12):
                if all(before.rate_scale(e) == 1.0 for e in epochs):
                    fix = f"Set eta_decay_start to {trained + 1} or later"
                else:
                    # Decayed epochs fix both values: any other pair rescales one of them.
                    fix = (f"The run has trained decayed epochs, so keep eta_decay = "
                           f"{before.eta_decay!r} and eta_decay_start = "
                           f"{before.eta_decay_start!r}")
                raise CheckpointError(
                    f"cannot resume: training.eta_decay = {now.eta_decay!r} and "
                    f"training.eta_decay_start = {now.eta_decay_start!r} change the learning "
                    f"rates of epoch {epoch}, which the checkpoint trained with eta_decay = "
                    f"{before.eta_decay!r} and eta_decay_start = {before.eta_decay_start!r}. "
                    f"{fix}, or start a new run.")

    def _check_resume_config(self, state, network):
        saved = state.get("config")
        if not isinstance(saved, dict) or not all(isinstance(v, dict) for v in saved.values()):
            raise CheckpointError(f"checkpoint {self.run.checkpoint_path} has no readable "
                                  "configuration. Start over with --force.")
        current = self.config.to_dict()
        self._check_resume_schedule(saved.get("training", {}), state)
        for section, values in saved.items():
            for key, value in values.items():
                if (section, key) in _EXTENSIBLE:
                    continue
                mine = current.get(section, {}).get(key)
                if mine != value:
                    raise CheckpointError(
                        f"cannot resume: {section}.{key} is {mine!r} but the checkpoint was "
                        f"trained with {value!r}. Resume with the run's own config.toml, or "
                        "start a new run.")
        if state.get("engine") != self.engine_name:
            raise CheckpointError(f"cannot resume: the run used engine {state.get('engine')!r}, "
                                  f"not {self.engine_name!r}. Pass --engine {state.get('engine')}.")
        saved_limit = state.get("max_samples")
        if self.max_samples is None:
            # A resume without --max-samples continues with the run's own limit.
            self.max_samples = saved_limit
        if saved_limit != self.max_samples:
            fix = (f"pass --max-samples {saved_limit}" if saved_limit is not None
                   else "drop --max-samples")
            raise CheckpointError(f"cannot resume: the run used --max-samples "
                                  f"{saved_limit if saved_limit is not None else '(none)'}, not "
                                  f"{self.max_samples}; {fix}.")
        if network.layers != list(self.config.network.layers):
            raise CheckpointError(f"cannot resume: the checkpoint contains layers "
                                  f"{network.layers}, but network.layers = "
                                  f"{self.config.network.layers}.")

    @contextmanager
    def _signals(self):
        """Turn SIGINT, SIGTERM and SIGHUP into a stop request at the next stretch boundary.

        SIGHUP (the terminal closed) is left alone when it is ignored, as under ``nohup``.
        Outside the main thread Python cannot install handlers, so signals act as usual.
        """
        def request_stop(signum, _frame):
            if self._stop_signal is not None:
                raise KeyboardInterrupt
            self._stop_signal = signal.Signals(signum).name
            logger.warning("%s received: stopping after the current minibatches and saving a "
                           "checkpoint (press Ctrl-C again to abort without saving)",
                           self._stop_signal)

        self._stop_signal = None
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = [signal.SIGINT, signal.SIGTERM]
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signals.append(signal.SIGHUP)
        previous = {sig: signal.signal(sig, request_stop) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextmanager
    def _log_to_file(self):
        handler = logging.FileHandler(self.run.log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("neurosim")
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)
        try:
            yield
        except NeurosimError as exc:
            # Record why the session ended in train.log only: the caller reports it once more.
            handler.handle(logging.makeLogRecord({
                "name": __name__, "levelno": logging.ERROR, "levelname": "ERROR",
                "msg": "%s", "args": (exc,)}))
            raise
        finally:
            root.removeHandler(handler)
            handler.close()

    # --- the loop -----------------------------------------------------------------------------

    def fit(self, data=None):
        """Train for ``training.epochs`` epochs and return the list of metric rows.

        Parameters
        ----------
        data : Dataset, optional
            Training and test data; by default the data set that ``config.data`` names. It
            is checked against the network's layers before anything is written.

        Raises
        ------
        TrainingInterrupted
            After SIGINT, SIGTERM or SIGHUP, once the checkpoint of the partial epoch is written.
        DivergenceError
            When a parameter or state becomes NaN or infinite; the previous checkpoint is kept.
        """
        self.run.acquire()
        try:
            with self._log_to_file():
                network, epoch_state = self._prepare()
                data = load_dataset(self.config) if data is None else data
                validate_dataset(data, self.config.network.layers)
                self._check_batch_size(data)
                engine = make_engine(self.engine_name, network, self.config, **self.engine_options)
                try:
                    # Nothing in the run directory changes until every check above passed.
                    if epoch_state is None and self.run.holds_run():
                        self._clear_previous_run()
                    self._write_run_files()
                    if epoch_state is None:
                        epoch_state = _EpochState(epoch=0, rng_state=self._initial_rng_state())
                        self._save(network, epoch_state)
                    with self._signals():
                        return self._loop(engine, data, epoch_state)
                finally:
                    engine.close()
        finally:
            self.run.release()

    def _initial_rng_state(self):
        return np.random.default_rng(self.config.training.seed).bit_generator.state

    def _n_train(self, data):
        n = len(data.x_train)
        return n if self.max_samples is None else min(n, self.max_samples)

    def _check_batch_size(self, data):
        batch_size = self.config.training.batch_size
        n_train = self._n_train(data)
        if n_train < batch_size:
            raise ConfigError(f"training.batch_size = {batch_size} is larger than the {n_train} "
                              "training samples: lower it, raise --max-samples or use more data.")

    def _write_run_files(self):
        """Write config.toml and run.json, which keeps a record of every session of the run."""
        previous = self.run.read_info() if self.resume else {}
        versions = software_versions()
        sessions = list(previous.get("sessions", []))
        first = sessions[0].get("versions") if sessions else None
        if first is not None and first != versions:
            changed = sorted(key for key in versions if first.get(key) != versions[key])
            logger.warning("the software differs from the run's first session (%s): the resumed "
                           "metrics may not match an uninterrupted run bit for bit",
                           ", ".join(changed))
        sessions.append({"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                         "resumed": self.resume, "command": " ".join(sys.argv),
                         "host": platform.node(), "versions": versions})
        self.run.write_config(config_to_toml(self.config))
        info = {"model": self.config.name, "engine": self.engine_name,
                "seed": self.config.training.seed,
                "max_samples": self.max_samples, "command": " ".join(sys.argv),
                "versions": versions, "sessions": sessions}
        self.run.write_info(info)

    def _loop(self, engine, data, epoch_state):
        cfg = self.config.training
        n_train = self._n_train(data)
        x_train, y_train = data.x_train[:n_train], data.y_train[:n_train]
        n_classes = self.config.network.layers[-1]
        targets = one_hot(y_train, n_classes, dtype=np.dtype(cfg.dtype))
        n_batches = n_train // cfg.batch_size
        if epoch_state.epoch >= cfg.epochs:
            return self._metrics
        rng = np.random.default_rng(cfg.seed)
        logger.info("training %s with the %s engine: layers %s, %s, %d samples per epoch, "
                    "%d epoch%s", self.config.name, engine.name, self.config.network.layers,
                    "Initialized EP" if self.config.network.initialized else "plain EP",
                    n_batches * cfg.batch_size, cfg.epochs, "" if cfg.epochs == 1 else "s")
        if cfg.eta_decay < 1:
            logger.info("learning rates: training.eta, times %g per epoch from epoch %d",
                        cfg.eta_decay, cfg.eta_decay_start)

        for epoch in range(epoch_state.epoch, cfg.epochs):
            if epoch_state.epoch != epoch:
                epoch_state = _EpochState(epoch=epoch, rng_state=rng.bit_generator.state)
            # Every epoch's draws come from the state saved at its start, so a resumed
            # epoch draws the same permutation and signs.
            rng.bit_generator.state = epoch_state.rng_state
            order = rng.permutation(len(x_train))[:n_batches * cfg.batch_size]
            if cfg.random_sign:
                signs = rng.choice(np.array([-1.0, 1.0]), size=n_batches)
            else:
                signs = np.ones(n_batches)
            end_state = rng.bit_generator.state
            engine.rate_scale = cfg.rate_scale(epoch + 1)
            if engine.rate_scale != 1.0:
                logger.info("epoch %d: learning rates at %.4g times training.eta (eta_decay = "
                            "%g from epoch %d)", epoch + 1, engine.rate_scale, cfg.eta_decay,
                            cfg.eta_decay_start)

            self._train_epoch(engine, x_train, targets, order, signs, epoch_state, n_batches)
            self._metrics.append(self._finish_epoch(engine, data, epoch_state))
            self.run.write_metrics(self._metrics)
            rng.bit_generator.state = end_state
            epoch_state = _EpochState(epoch=epoch + 1, rng_state=end_state)
            self._save(engine.network, epoch_state)
            if self._stop_signal is not None and epoch + 1 < cfg.epochs:
                raise TrainingInterrupted(
                    f"stopped by {self._stop_signal} after epoch {epoch + 1}; checkpoint saved in "
                    f"{self.run.path}. Continue with --resume.")
        return self._metrics

    def _train_epoch(self, engine, x_train, targets, order, signs, epoch_state, n_batches):
        cfg = self.config.training
        per_call = max(1, engine.batches_per_call)
        bar = self._progress_bar(epoch_state, n_batches)
        try:
            while epoch_state.next_batch < n_batches:
                start = epoch_state.next_batch
                stop = min(n_batches, start + per_call)
                index = order[start * cfg.batch_size:stop * cfg.batch_size]
                began, compiled = time.perf_counter(), _compile_seconds(engine)
                # _check_finite reports overflow itself, naming the parameter and minibatches.
                with np.errstate(over="ignore", invalid="ignore"):
                    stats = engine.train(x_train[index], targets[index], signs[start:stop])
                # A first call may compile the network (Brian2 standalone), which is not
                # training time.
                epoch_state.seconds += (time.perf_counter() - began
                                        - (_compile_seconds(engine) - compiled))
                self._check_finite(engine, stats, epoch_state.epoch, start + 1, stop)
                epoch_state.stats.add(stats)
                epoch_state.next_batch = stop
                if bar is not None:
                    bar.update(stats.samples)
                    done = max(1, epoch_state.stats.samples)
                    bar.set_postfix(err_minus=f"{1 - epoch_state.stats.correct_minus / done:.3f}")
                if self._stop_signal is not None and epoch_state.next_batch < n_batches:
                    self._save(engine.network, epoch_state)
                    raise TrainingInterrupted(
                        f"stopped by {self._stop_signal} in epoch {epoch_state.epoch + 1} after "
                        f"minibatch {epoch_state.next_batch} of {n_batches}; checkpoint saved in "
                        f"{self.run.path}. Continue with --resume.")
        finally:
            if bar is not None:
                bar.close()

    def _progress_bar(self, epoch_state, n_batches):
        if self.progress is False:
            return None
        from tqdm import tqdm

        total = n_batches * self.config.training.batch_size
        return tqdm(total=total, initial=epoch_state.stats.samples, unit="samples",
                    desc=f"epoch {epoch_state.epoch + 1}/{self.config.training.epochs}",
                    disable=None if self.progress is None else False, leave=False,
                    dynamic_ncols=True)

    def _check_finite(self, engine, stats, epoch, first_batch, last_batch):
        """Raise :class:`DivergenceError` if a parameter or the settled states are not finite."""
        name = engine.network.first_non_finite()
        if name is None and math.isfinite(stats.residual_sum):
            return
        where = _minibatch_label(epoch, first_batch, last_batch)
        if name is not None:
            cause = f"{_parameter_label(name)} became NaN or infinite in {where}"
        else:
            cause = f"the settled states became NaN or infinite in {where}"
        raise DivergenceError(
            f"training diverged: {cause}. The last good checkpoint in {self.run.path} is kept. "
            "Lower the learning rates (training.eta, training.eta_feedforward), the step "
            "(dynamics.dt) or beta (training.beta), then start over with --force or in a new "
            "--out.")

    def _finish_epoch(self, engine, data, epoch_state):
        stats = epoch_state.stats
        began, compiled = time.perf_counter(), _compile_seconds(engine)
        result = engine.evaluate(data.x_test)
        eval_seconds = time.perf_counter() - began - (_compile_seconds(engine) - compiled)
        test_sf, test_minus = result.errors(data.y_test)
        done = max(1, stats.samples)
        initialized = self.config.network.initialized
        row = {
            "epoch": epoch_state.epoch + 1,
            "train_error_sf": 1.0 - stats.correct_sf / done if initialized else float("nan"),
            "train_error_minus": 1.0 - stats.correct_minus / done,
            "test_error_sf": test_sf,
            "test_error_minus": test_minus,
            "residual_mean": stats.residual_sum / done,
            "residual_max": stats.residual_max,
            "train_seconds": epoch_state.seconds,
            "eval_seconds": eval_seconds,
            "samples_per_second": stats.samples / max(epoch_state.seconds, 1e-9),
        }
        logger.info("epoch %d: train error s^f %s, s- %.2f %% | test error s^f %s, s- %.2f %% | "
                    "%.1f s, %.0f samples/s, residual |ds/dt| %.2e",
                    row["epoch"], _percent(row["train_error_sf"]), 100 * row["train_error_minus"],
                    _percent(test_sf), 100 * test_minus, row["train_seconds"],
                    row["samples_per_second"], row["residual_mean"])
        if row["residual_mean"] > RESIDUAL_WARNING:
            logger.warning("epoch %d: the negative phase has not settled: mean |ds/dt| = %.3g at "
                           "its last step (above %g). Raise dynamics.t_minus (now %g tau) for a "
                           "closer fixed point.", row["epoch"], row["residual_mean"],
                           RESIDUAL_WARNING, self.config.dynamics.t_minus)
        return row

    def _save(self, network, epoch_state):
        state = {
            "epoch": epoch_state.epoch,
            "next_batch": epoch_state.next_batch,
            "rng_state": epoch_state.rng_state,
            "stats": epoch_state.stats.as_dict(),
            "epoch_seconds": epoch_state.seconds,
            "metrics": self._metrics,
            "config": self.config.to_dict(),
            "engine": self.engine_name,
            "max_samples": self.max_samples,
        }
        save_checkpoint(self.run.checkpoint_path, network, state)


#: Settings a resumed run may change: the epoch count, and the learning-rate schedule as far
#: as :meth:`Trainer._check_resume_schedule` allows.
_EXTENSIBLE = {("training", "epochs"), ("training", "eta_decay"), ("training", "eta_decay_start")}


def _compile_seconds(engine):
    """Return the seconds the engine has spent compiling so far (0 if it compiles nothing)."""
    return float(getattr(engine, "compile_seconds", 0.0))


def _percent(value):
    return "-" if value != value else f"{100 * value:.2f} %"


def train(model="mnist-784-500-10", run_dir="runs/latest", engine="dense", overrides=(),
          **options):
    """Train a preset or TOML model and return the metric rows (one dict per epoch).

    ``overrides`` are ``KEY=VALUE`` strings as for ``neurosim train --set``; other keyword
    arguments go to :class:`Trainer`.
    """
    from .config import apply_overrides

    if isinstance(model, str):
        config = load_config(model, overrides)
    else:
        config = apply_overrides(model, overrides) if overrides else model
    return Trainer(config, run_dir, engine=engine, **options).fit()


