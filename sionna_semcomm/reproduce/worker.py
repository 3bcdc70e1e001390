"""``python -m sionna_semcomm.reproduce.worker LOG``: a worker of ``reproduce --jobs N``, running the toolkit's
commands one at a time in one process as :meth:`~.pipeline.Pipeline.run` hands them over.

It reads commands on stdin, one JSON object a line ``{"module": "link" | "attack" | "defense" | "train",
"label", "argv"}``, and answers each on stdout with one JSON line ``{"label", "seconds", "error",
"interrupted"}`` when it has run; everything else (the commands' output, native libraries' included) goes to the
file ``LOG``, appended. A failed command is answered and the next one runs; after an interrupted one (exit 130:
Ctrl-C or SIGTERM, its finished work kept) the worker takes no more and exits with status 130. It exits 0 at the
end of its input.

:func:`run_command` runs one such command; it is also what a Ray task of ``reproduce --executor ray`` runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from typing import IO


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


def serve(commands: IO[str], results: IO[str]) -> int:
    """Run the commands read from ``commands`` (JSON lines) in turn, answering each with a JSON line on
    ``results``; their progress lines go to stdout. Returns the exit status: 0 at the end of ``commands``, 130 after
    an interrupted command (the ones after it are not read)."""
    for line in commands:
        if not line.strip():
            continue
        task = json.loads(line)
        print(f"== {task['module']} {task['label']}", flush=True)
        result = run_command(task)
        if result["error"] is not None and not result["interrupted"]:
            print(f"!! {task['label']} failed: {result['error'].splitlines()[-1] if result['error'] else ''}", flush=True)
        print(f"== {'interrupted' if result['interrupted'] else 'done'} in {result['seconds']:.1f} s", flush=True)
        results.write(json.dumps(result) + "\n")
        results.flush()
        if result["interrupted"]:  # the command kept its finished work; take no more
            print(f"interrupted: {task['label']}; this worker takes no further command", flush=True)
            return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m sionna_semcomm.reproduce.worker LOG  (commands on stdin, see the module doc)")
    results = os.fdopen(os.dup(sys.stdout.fileno()), "w")  # the answers keep the pipe; all other output: LOG
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(argv[0], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, sys.stdout.fileno())
    os.dup2(log, sys.stderr.fileno())
    os.close(log)
    sys.stdout.reconfigure(line_buffering=True)
    try:
        return serve(sys.stdin, results)
    except KeyboardInterrupt:  # Ctrl-C between two commands
        return 130


if __name__ == "__main__":
    sys.exit(main())
