"""A rule's log: every Snakemake script runs its job inside :func:`log_to` (the rule's ``log:``).

The log's first line says where the job ran (host, pid, SLURM job id), the second the rule and its
inputs; stdout, stderr and ``logging`` go to it; bad input ends the job with one line naming the file
or key (exit 2), anything else with its traceback; a finished job's last line lists its outputs.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from .errors import ConfigError, DataError, os_error


def where_am_i() -> str:
    """Where this job runs: host and pid, plus the SLURM job id when it runs as a SLURM job (the
    first line of every rule log, so a log says which node and which cluster job wrote it)."""
    import os
    import socket

    parts = [f"host={socket.gethostname()}", f"pid={os.getpid()}"]
    if os.environ.get("SLURM_JOB_ID"):
        parts.append(f"slurm_job_id={os.environ['SLURM_JOB_ID']}")
    return " ".join(parts)


def _snakemake_job():
    """The ``snakemake`` object of the Snakemake script this process runs (Snakemake puts it in the
    script's globals), or None outside Snakemake."""
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    return job if all(hasattr(job, a) for a in ("input", "output", "rule")) else None


def _files(names) -> str:
    """``path (size)`` of each named file or folder, for a job's log."""
    out = []
    for f in list(names)[:60]:
        p = Path(str(f))
        if p.is_file():
            out.append(f"{p} ({p.stat().st_size} B)")
        elif p.is_dir():
            out.append(f"{p}/ ({sum(1 for _ in p.iterdir())} entries)")
        else:
            out.append(f"{p} (missing)")
    more = len(list(names)) - 60
    return ", ".join(out) + (f", ... and {more} more" if more > 0 else "") if out else "none"


@contextlib.contextmanager
def log_to(path: str | Path):
    """Send stdout, stderr and logging of this process to ``path`` (the rule's log)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as fh:
        fh.write(f"# {where_am_i()}\n")
        job = _snakemake_job()
        if job is not None:
            fh.write(f"# rule {job.rule}; input: {_files(job.input)}\n")
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = fh
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield fh
        except (DataError, ConfigError) as exc:  # bad input: one line naming the file or key, no traceback
            _fail(fh, exc, old_out, old_err)
        except OSError as exc:  # a file-system condition (permission, full disk ...): one line too
            err = os_error(exc)
            if err is None:
                import traceback

                traceback.print_exc(file=fh)
                raise
            _fail(fh, err, old_out, old_err)
        except BaseException:
            import traceback

            traceback.print_exc(file=fh)
            raise
        else:
            if job is not None:
                fh.write(f"# done; output: {_files(job.output)}\n")
        finally:
            root.removeHandler(handler)
            sys.stdout, sys.stderr = old_out, old_err


def _fail(fh, exc, old_out, old_err):
    fh.write(f"error: {exc}\n")
    sys.stdout, sys.stderr = old_out, old_err
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
