"""``python -m sionna_semcomm.reproduce.worker PLAN.json``: run a list of the toolkit's commands in one process.

``PLAN.json`` is a list of ``{"module": "link" | "attack" | "defense" | "train", "label", "argv"}`` written by
:meth:`~.pipeline.Pipeline.run` with ``jobs > 1``. Every command runs even when an earlier one failed; the
exit status is 1 if any failed (each failure is printed with its label). An interrupted command (exit 130:
Ctrl-C or SIGTERM, its finished work kept) ends the plan with exit status 130.

:func:`run_command` runs one such command; it is also what a Ray task of ``reproduce --executor ray`` runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback


def run_command(task: dict) -> dict:
    """Run one command ``{"module", "label", "argv"[, "log", "cwd", "threads"]}`` in this process.

    ``cwd``: the folder relative paths of ``argv`` are relative to; ``threads``: torch threads; ``log``: a file
    that receives the command's stdout and stderr (else they stay this process's). Returns ``{"label",
    "seconds", "error", "interrupted"}`` (``error``: ``None``, or the failure's message / traceback;
    ``interrupted``: it exited 130, stopped by Ctrl-C or SIGTERM): a failed command does not raise, so the
    others of a plan or a Ray job go on.
    """
    from ..runtime import apply_threads
    from .pipeline import _MAINS

    if task.get("cwd"):
        os.chdir(task["cwd"])
    if task.get("threads"):
        apply_threads(task["threads"])
    started, error, interrupted = time.time(), None, False
    log = open(task["log"], "a") if task.get("log") else None
    try:
        with contextlib.ExitStack() as stack:
            if log is not None:
                stack.enter_context(contextlib.redirect_stdout(log))
                stack.enter_context(contextlib.redirect_stderr(log))
            try:
                _MAINS[task["module"]]()(task["argv"])
            except SystemExit as e:
                if e.code not in (None, 0):
                    error, interrupted = f"exit {e.code}", e.code == 130
            except Exception:  # noqa: BLE001 - reported to the caller, which goes on with the others
                error = traceback.format_exc()
                print(error, flush=True)
    finally:
        if log is not None:
            log.close()
    return {"label": task["label"], "seconds": time.time() - started, "error": error, "interrupted": interrupted}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m sionna_semcomm.reproduce.worker PLAN.json")
    failed, tasks = [], json.loads(open(argv[0]).read())
    for i, task in enumerate(tasks):
        print(f"== {task['module']} {task['label']}", flush=True)
        result = run_command(task)
        if result["interrupted"]:  # the command kept its finished work; stop the plan
            print(f"interrupted: {task['label']}; the plan's {len(tasks) - i - 1} other command(s) were not started",
                  flush=True)
            return 130
        if result["error"] is not None:
            failed.append(task["label"])
            print(f"!! {task['label']} failed: {result['error'].splitlines()[-1] if result['error'] else ''}", flush=True)
        print(f"== done in {result['seconds']:.1f} s", flush=True)
    if failed:
        print("failed: " + ", ".join(failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
