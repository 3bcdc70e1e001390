"""``python -m sionna_semcomm.reproduce.worker PLAN.json``: run a list of the toolkit's commands in one process.

``PLAN.json`` is a list of ``{"module": "link" | "attack" | "defense" | "train", "label", "argv"}`` written by
:meth:`~.pipeline.Pipeline.run` with ``jobs > 1``. Every command runs even when an earlier one failed; the
exit status is 1 if any failed (each failure is printed with its label).
"""

from __future__ import annotations

import json
import sys
import time
import traceback


def main(argv: list[str] | None = None) -> int:
    from .pipeline import _MAINS

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m sionna_semcomm.reproduce.worker PLAN.json")
    failed = []
    for task in json.loads(open(argv[0]).read()):
        started = time.time()
        print(f"== {task['module']} {task['label']}", flush=True)
        try:
            _MAINS[task["module"]]()(task["argv"])
        except SystemExit as e:
            if e.code not in (None, 0):
                failed.append(task["label"])
                print(f"!! {task['label']} failed: {e}", flush=True)
        except Exception:  # noqa: BLE001 - report and go on with the others
            failed.append(task["label"])
            traceback.print_exc()
        print(f"== done in {time.time() - started:.1f} s", flush=True)
    if failed:
        print("failed: " + ", ".join(failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
