"""Runs a recipe: plan -> process units -> select (dedup + mixture) -> write shards -> manifest and card.

Steps say what to do; executors say where it runs. The three parallel stages are datatrove pipelines of
one picklable step each, run by datatrove's ``LocalPipelineExecutor`` (worker processes) or
``RayPipelineExecutor`` (a Ray cluster). Their completion files make a rerun skip finished tasks, and every
step writes its files atomically, so a build killed at any point resumes without redoing or duplicating
finished work, and ends with the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medswallow.console import console, progress
from medswallow.corpus.layout import Layout, read_json, write_json
from medswallow.errors import UserError, require

PLAN_VERSION = 2
MARKER_VERSION = 1
OWNED = ("data", "rejected", ".work", "manifest.json", "README.md")


def quiet_datatrove() -> None:
    """datatrove logs every task to stderr; the build shows its own progress bars and summary instead."""
    from loguru import logger

    logger.disable("datatrove")


# ---------------------------------------------------------------------------------------------- plan


SMALL_FILE = 1 << 20  # files below this are grouped into units of about output.unit_mb


def _fingerprint(units: list[dict[str, Any]]) -> list[list[Any]]:
    out = []
    for task in units:
        for u in task["files"]:
            p = Path(u["path"])
            st = p.stat() if p.exists() else None
            out.append([u["source"], u["rel"], u["part"], st.st_size if st else -1, st.st_mtime_ns if st else -1])
    return out


def group_units(units: list[Any], unit_mb: float) -> list[dict[str, Any]]:
    """Tasks of the process stage: consecutive small files of one source together (about ``unit_mb`` of
    input, at most 2,000 files), every other unit alone. Each task is ``{"source", "files": [unit...]}``."""
    limit = unit_mb * 1024 * 1024
    tasks: list[dict[str, Any]] = []
    size = 0
    for u in units:
        try:  # only plain files of one part; a dataset shard or a derived source's unit stays alone
            n = os.path.getsize(u.path) if not u.origin and u.parts == 1 and os.path.isfile(u.path) else -1
        except OSError:
            n = -1
        last = tasks[-1] if tasks else None
        small = 0 <= n < SMALL_FILE and limit > 0
        if small and last is not None and last["small"] and last["source"] == u.source \
                and size + n <= limit and len(last["files"]) < 2000:
            last["files"].append(u.to_dict())
            size += n
            continue
        tasks.append({"source": u.source, "small": small, "files": [u.to_dict()]})
        size = max(n, 0)
    for t in tasks:
        del t["small"]
    return tasks


def plan_build(recipe: Any, layout: Layout, overwrite: bool) -> list[dict[str, Any]]:
    """Expand sources into units, check a previous build in OUT, build the benchmark index; write the plan."""
    from medswallow.corpus.sources import make_reader
    from medswallow.corpus.sources.base import suggest_path as suggest

    if any(recipe.pii_mode(s) != "off" for s in recipe.sources):
        from medswallow.corpus.redact import check_engine

        check_engine()
    from medswallow.corpus.sources.base import MissingPaths

    files: list[Any] = []
    missing: list[str] = []
    for i, s in enumerate(recipe.sources):
        try:
            found = make_reader(s, recipe.base_dir, recipe).units()
        except MissingPaths as exc:  # every source is checked, so one run names every missing path
            for j, pattern in exc.patterns:
                missing.append(f"{recipe.where(('sources', i, 'paths', j))}: source '{s.name}': no file matches "
                               f"'{pattern}'{suggest(pattern, recipe.base_dir)}")
            continue
        files.extend(found)
    if missing:
        raise UserError(
            "input files not found:\n  " + "\n  ".join(missing) + f"\n  (paths are relative to the recipe's folder {recipe.base_dir})"
        )
    units = group_units(files, recipe.output.unit_mb)
    plan = {"version": PLAN_VERSION, "recipe_hash": recipe.data_hash(), "units": _fingerprint(units)}
    _check_out_dir(layout, plan, overwrite)
    if not layout.plan.exists():
        write_json(layout.units, units)
        if recipe.decontamination.enabled and recipe.decontamination.benchmarks:
            from medswallow.corpus.decontam import build_index

            with console.status("indexing benchmark items for decontamination"):
                build_index(recipe.decontamination, recipe.base_dir).save(layout.decontam_index)
        write_json(layout.plan, plan)  # last: its presence means the plan is complete
    return units


def _check_out_dir(layout: Layout, plan: dict[str, Any], overwrite: bool) -> None:
    """Refuse an output directory the build must not touch; with ``overwrite``, clear a previous build.

    Every check happens before anything is deleted: only a directory holding the build marker (written by
    the first run into it) is ever cleared, and then only the paths a build writes (``OWNED``).
    """
    out = layout.out
    _check_out_path(out)
    is_build = layout.marker.is_file()
    entries = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if overwrite and entries:
        if not is_build:
            raise UserError(
                f"{out}: --overwrite refused, nothing was deleted: this directory was not made by "
                f"build-corpus (it has no {layout.marker.name} marker); choose a new or empty output directory"
            )
        for name in OWNED:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    if layout.plan.exists():
        old = read_json(layout.plan)
        if old.get("recipe_hash") != plan["recipe_hash"]:
            raise UserError(
                f"{out} holds a build of a different recipe (hash {old.get('recipe_hash')}, now {plan['recipe_hash']}); "
                "pass --overwrite to replace it, or choose another output directory"
            )
        if old != plan:
            raise UserError(
                f"{out}: the input files changed since this build started, so it cannot be resumed; "
                "pass --overwrite to start over"
            )
        return
    # A marked directory without a finished plan (cleared by --overwrite, or a run stopped while planning)
    # is this tool's own; files a user added there are left alone.
    leftovers = [p.name for p in out.iterdir()] if out.exists() and not is_build else []
    if leftovers:
        raise UserError(
            f"{out} is not empty and holds no build to resume ({', '.join(sorted(leftovers)[:5])}); "
            "choose an empty or new directory"
        )
    try:
        layout.work.mkdir(parents=True, exist_ok=True)
        if not is_build:
            write_json(layout.marker, {"made_by": "medswallow build-corpus", "version": MARKER_VERSION})
    except OSError as exc:
        raise UserError(f"{out}: cannot create the output directory ({exc.strerror or exc})") from None


def _check_out_path(out: Path) -> None:
    """``-o`` must name a directory or a path that can become one (not a file, nor a path below a file)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory; choose a directory for -o")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"-o {out}: {parent} is a file, not a directory; choose another output path")
            break


# ---------------------------------------------------------------------------------------------- steps


class _Step:
    """A datatrove pipeline entry: ``step(data, rank, world_size)``; picklable, heavy state built lazily."""

    stage = "step"

    def __init__(self, recipe: Any, out: str) -> None:
        self.recipe = recipe
        self.out = out
        self.main_pid = os.getpid()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        quiet_datatrove()

    def __call__(self, data: Any, rank: int = 0, world_size: int = 1) -> None:
        quiet_datatrove()
        if os.getpid() != self.main_pid:
            # Ctrl-C reaches every process of the terminal's group: only the main process answers it (it
            # stops the workers and says how to resume); a worker would print its own traceback.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        layout = Layout(Path(self.out))
        err = layout.error_file(self.stage, rank)
        try:
            self.run(layout, rank)
        except Exception:
            err.parent.mkdir(parents=True, exist_ok=True)
            err.write_text(traceback.format_exc(), encoding="utf-8")
            raise
        err.unlink(missing_ok=True)

    def run(self, layout: Layout, rank: int) -> None:
        """Do the work of task ``rank``."""

    def __repr__(self) -> str:  # datatrove prints steps in its executor.json
        return f"medswallow.corpus {self.stage}"


@functools.lru_cache(maxsize=2)
def _units(path: str) -> list[dict[str, Any]]:
    return read_json(Path(path))  # type: ignore[no-any-return]


class ProcessStep(_Step):
    stage = "process"

    def run(self, layout: Layout, rank: int) -> None:
        from medswallow.corpus.process import process_unit
        from medswallow.corpus.sources.base import Unit

        files = [Unit(**f) for f in _units(str(layout.units))[rank]["files"]]
        process_unit(self.recipe, layout, rank, files)


class SelectStep(_Step):
    stage = "select"

    def run(self, layout: Layout, rank: int) -> None:
        from medswallow.corpus.select import select

        select(self.recipe, layout, _units(str(layout.units)))


class WriteStep(_Step):
    stage = "write"

    def run(self, layout: Layout, rank: int) -> None:
        from medswallow.corpus.shards import write_shard

        groups = read_json(layout.shards_plan)["shards"]
        write_shard(self.recipe, layout, rank, groups[rank])


# ---------------------------------------------------------------------------------------------- executors


class Runner:
    """Runs one stage's tasks on the recipe's executor, with a progress bar and a clear failure message."""

    def __init__(self, kind: str, workers: int, recipe: Any, show_progress: bool = True) -> None:
        self.kind = kind
        self.workers = workers
        self.recipe = recipe
        self.show_progress = show_progress
        self._ray_started = False

    def run(self, step: _Step, tasks: int, label: str, layout: Layout) -> None:
        logs = layout.logs(step.stage)
        executor = self._executor(step, tasks, logs)
        done = _count_completions(logs)
        with progress(disable=not self.show_progress) as bar:
            task = bar.add_task(label, total=tasks, completed=done)
            stop = threading.Event()
            watcher = threading.Thread(target=_watch, args=(logs, bar, task, stop), daemon=True)
            watcher.start()
            try:
                executor.run()
            except Exception as exc:
                stop.set()
                self._fail(step.stage, layout, tasks, exc)
            finally:
                stop.set()
                watcher.join()
                bar.update(task, completed=_count_completions(logs))
        if _count_completions(logs) < tasks:
            self._fail(step.stage, layout, tasks, None)

    def _executor(self, step: _Step, tasks: int, logs: Path) -> Any:
        quiet_datatrove()
        if self.kind == "ray":
            self._start_ray()
            from datatrove.executor import RayPipelineExecutor

            ex = self.recipe.executor
            return RayPipelineExecutor(
                pipeline=[step], tasks=tasks, workers=min(self.workers, tasks), logging_dir=str(logs),
                cpus_per_task=ex.cpus_per_task, mem_per_cpu_gb=ex.mem_per_task_gb / ex.cpus_per_task,
            )
        from datatrove.executor import LocalPipelineExecutor

        workers = min(self.workers, tasks)
        if workers > 1:
            self._preload_workers()
        return LocalPipelineExecutor(
            pipeline=[step], tasks=tasks, workers=workers, logging_dir=str(logs), start_method="forkserver"
        )

    def _preload_workers(self) -> None:
        """Load the PII engine and models once in the forkserver that forks the workers (see warmup.py)."""
        import multiprocess

        from medswallow.corpus.warmup import ENV

        modes = sorted({self.recipe.pii_mode(s) for s in self.recipe.sources} - {"off"})
        os.environ[ENV] = ",".join(modes or ["none"]) + ("+pseudo" if self.recipe.pii.pseudonymize else "")
        multiprocess.get_context("forkserver").set_forkserver_preload(["__main__", "medswallow.corpus.warmup"])

    def _start_ray(self) -> None:
        ray = require("ray", "corpus")
        if ray.is_initialized():
            return
        address = self.recipe.executor.ray_address
        with console.status("starting Ray" if not address else f"joining Ray cluster at {address}"):
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
        self._ray_started = True

    def close(self) -> None:
        if self._ray_started:
            import ray

            ray.shutdown()

    def _fail(self, stage: str, layout: Layout, tasks: int, exc: BaseException | None) -> None:
        if (exc is not None and no_space(exc)) or _disk_full(layout.out):
            raise_no_space(layout)  # (a worker on a full disk may not even manage to write its error file)
        where = ""
        for path in sorted((layout.work / "errors").glob(f"{stage}-*.txt")):
            lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            if not lines:  # written while the disk filled up, or cut by a kill
                continue
            last = lines[-1][:300].removeprefix("medswallow.errors.UserError: ")  # a user error speaks for itself
            if "No space left on device" in last:
                raise_no_space(layout)
            where = f": {last}\n  full traceback: {path}"
            break
        if not where and exc is not None:
            where = f": {type(exc).__name__}: {str(exc)[:300]}"
        raise UserError(
            f"the {stage} stage did not finish ({_count_completions(layout.logs(stage))}/{tasks} tasks){where}\n"
            "  finished work is kept: fix the cause and run the same command again to resume"
        )


def no_space(exc: BaseException) -> bool:
    """A full disk (or quota), wherever in the chain of exceptions it happened."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _disk_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path).free < 1 << 20
    except OSError:
        return False


def raise_no_space(layout: Layout) -> None:
    raise UserError(
        f"no space left on the device of {layout.out}: free some space (or choose another -o) and run the "
        "same command again; finished work is kept and resumed"
    ) from None


def _count_completions(logs: Path) -> int:
    d = logs / "completions"
    return sum(1 for _ in d.iterdir()) if d.is_dir() else 0


def _watch(logs: Path, bar: Any, task: Any, stop: threading.Event) -> None:
    while not stop.wait(0.25):
        bar.update(task, completed=_count_completions(logs))


# ---------------------------------------------------------------------------------------------- build


def build(
    recipe: Any,
    out: Path,
    workers: int | None = None,
    executor: str | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
    on_plan: Callable[[list[dict[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Build the mixture of ``recipe`` into ``out``; returns the manifest. Resumes a previous run in ``out``."""
    require("datatrove", "corpus")
    require("pyarrow", "corpus")
    quiet_datatrove()
    layout = Layout(out.resolve())
    try:
        return _build(recipe, layout, workers, executor, overwrite, show_progress, on_plan)
    except OSError as exc:
        if no_space(exc):
            raise_no_space(layout)
        raise


def _build(
    recipe: Any, layout: Layout, workers: int | None, executor: str | None, overwrite: bool, show_progress: bool,
    on_plan: Callable[[list[dict[str, Any]]], None] | None,
) -> dict[str, Any]:
    from medswallow.corpus.manifest import write_outputs

    units = plan_build(recipe, layout, overwrite)
    remove_stale_temporaries(layout)
    if not units:
        raise UserError("the recipe's sources match no input")
    if on_plan:
        on_plan(units)
    kind = executor or recipe.executor.kind
    n_workers = workers or recipe.executor.workers or os.cpu_count() or 1
    runner = Runner(kind, n_workers, recipe, show_progress)
    out_str = str(layout.out)
    timings: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        runner.run(ProcessStep(recipe, out_str), len(units), "process units", layout)
        t1 = time.perf_counter()
        runner.run(SelectStep(recipe, out_str), 1, "dedup + mixture", layout)
        t2 = time.perf_counter()
        shards = len(read_json(layout.shards_plan)["shards"])
        runner.run(WriteStep(recipe, out_str), shards, "write shards", layout)
        timings = {"process": t1 - t0, "select": t2 - t1, "write": time.perf_counter() - t2}
    finally:
        runner.close()
    write_empty_shard_if_none(layout)
    manifest = write_outputs(recipe, layout, units)
    # Wall times of this run (not part of the output contract: the manifest stays byte-stable).
    write_json(layout.work / "timings.json", {"executor": kind, "workers": n_workers, "seconds": timings})
    return manifest


def remove_stale_temporaries(layout: Layout) -> None:
    """Half-written files of tasks killed in an earlier run (``.NAME.tmp-PID``): never trusted, so removed."""
    for folder in (layout.work, layout.rejected, layout.data):
        if folder.is_dir():
            for tmp in folder.rglob(".*.tmp-*"):
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)


def write_empty_shard_if_none(layout: Layout) -> None:
    """A build that keeps nothing still leaves a loadable ``data/`` (one empty shard with the schema)."""
    from medswallow.corpus.shards import write_empty_shard

    plan = read_json(layout.shards_plan)
    stats = [read_json(layout.write_stats(k)) for k in range(len(plan["shards"]))]
    if not any(st["file"] for st in stats):
        write_empty_shard(layout, 0)
