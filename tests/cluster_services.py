"""Real daemons for the `cluster` test: a single-node SLURM with accounting, and an MLflow server on
PostgreSQL, all on 127.0.0.1, all state under one temp folder, all stopped by PID.

    munged      (Debian munge)           its own key and socket; nothing in /etc or /run is touched
    mariadbd    (Debian mariadb-server)  the accounting database of slurmdbd
    slurmdbd    (Debian slurmdbd 22.05)  so that `sacct` works: the SLURM executor plugin reads job
                                         states from it, as on a production cluster
    slurmctld + slurmd (Debian slurm-wlm) one partition, one node: this machine
    postgres    (Debian postgresql)      the MLflow backend store
    mlflow server                        --backend-store-uri postgresql+psycopg2://..., artifacts
                                         to a folder every job can see

Its slurm.conf and slurmdbd.conf go to SLURM's default place, /etc/slurm (refused if a real config
is there; removed on stop), so every client, in jobs too, finds this SLURM as on a production
cluster. Needs root (the daemons run as root here, postgres as the ``postgres`` user); missing
Debian packages are installed with apt-get.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from helpers import free_port

PACKAGES = {  # binary -> Debian package
    "munged": "munge", "slurmctld": "slurm-wlm", "slurmd": "slurm-wlm", "slurmdbd": "slurmdbd",
    "mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server",
}
CLUSTER = "emofusiontest"
ETC = Path("/etc/slurm")
MARK = "# written by emofusion's cluster test (tests/cluster_services.py); removed when it stops"
ACCOUNT = "emofusion"


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def ensure_packages() -> None:
    """Install the Debian packages whose binaries are missing (root and apt-get needed)."""
    missing = sorted({pkg for b, pkg in PACKAGES.items() if shutil.which(b) is None
                      and not Path("/usr/sbin", b).exists()})
    if pg_bin() is None:
        missing.append("postgresql")
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(f"the cluster test needs the Debian packages {missing} (apt-get as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def wait_until(check, what: str, timeout: float = 60.0, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = check()
        except Exception:  # noqa: BLE001 (not up yet)
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def _sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin") / name)


class Cluster:
    """Start with :meth:`start`, stop with :meth:`stop` (idempotent; every PID it started)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.pids: list[tuple[str, int]] = []  # (name, pid) in start order
        self.ports = {k: free_port() for k in ("ctld", "slurmd", "dbd", "mysql", "pg", "mlflow")}
        self.node = socket.gethostname().split(".")[0]
        # SLURM's default config path, not $SLURM_CONF: the SLURM jobstep plugin (0.6.x) drops every
        # SLURM_* variable except the job's identity before its nested `srun`, so a config found
        # only through SLURM_CONF is lost inside the jobs. Production clusters keep it here too.
        self.conf = ETC / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.sock"
        self.artifacts = self.root / "mlflow-artifacts"
        self.tracking_uri = f"http://127.0.0.1:{self.ports['mlflow']}"
        self.logs = self.root / "log"

    # ------------------------------------------------------------------ helpers

    def run(self, *cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}  # the default path, as jobs see it
        return subprocess.run(list(cmd), check=check, capture_output=True, text=True, env=env, **kw)

    def _pidfile(self, name: str, path: Path) -> int:
        pid = wait_until(lambda: path.exists() and int(path.read_text().split()[0]), f"{name} pid file {path}")
        self.pids.append((name, pid))
        return pid

    # ------------------------------------------------------------------ start

    def start(self) -> Cluster:
        ensure_packages()
        for d in ("munge", "log", "state", "spool", "mysql"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self._munge()
        self._mariadb()
        self._write_slurm_conf()
        self._slurmdbd()
        self._slurm()
        self._postgres()
        self._mlflow()
        return self

    def _munge(self) -> None:
        d = self.root / "munge"
        d.chmod(0o700)
        key = d / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        subprocess.run([_sbin("munged"), "--force", f"--key-file={key}", f"--socket={self.munge_socket}",
                        f"--pid-file={d / 'munged.pid'}", f"--log-file={self.logs / 'munged.log'}",
                        f"--seed-file={d / 'munge.seed'}"], check=True)
        self._pidfile("munged", d / "munged.pid")

    def _mariadb(self) -> None:
        data = self.root / "mysql"
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                        "--auth-root-authentication-method=normal"], check=True, capture_output=True)
        sock = self.root / "mysql.sock"
        p = subprocess.Popen([_sbin("mariadbd"), "--no-defaults", f"--datadir={data}", f"--socket={sock}",
                              f"--pid-file={self.root / 'mysql.pid'}", f"--port={self.ports['mysql']}",
                              "--bind-address=127.0.0.1", "--user=root",
                              f"--log-error={self.logs / 'mariadb.log'}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.pids.append(("mariadbd", p.pid))
        sql = ("CREATE DATABASE slurm_acct_db; CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; "
               "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")
        wait_until(lambda: subprocess.run(["mariadb", "--no-defaults", "-S", str(sock), "-uroot", "-e", sql],
                                          capture_output=True).returncode == 0, "MariaDB")

    def _write_slurm_conf(self) -> None:
        mem_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.9)
        cpus = os.cpu_count() or 1
        r, p = self.root, self.ports
        for f in (self.conf, self.conf.parent / "slurmdbd.conf"):
            if f.exists() and MARK not in f.read_text(errors="replace"):
                raise RuntimeError(f"{f} exists and is not the cluster test's: this machine has its own "
                                   "SLURM; the test will not overwrite it")
        self.created_etc = not ETC.exists()
        ETC.mkdir(parents=True, exist_ok=True)
        self.written = [self.conf, self.conf.parent / "slurmdbd.conf"]
        self.conf.write_text(f"""\
{MARK}
ClusterName={CLUSTER}
SlurmctldHost={self.node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
SlurmctldPort={p['ctld']}
SlurmdPort={p['slurmd']}
StateSaveLocation={r / 'state'}
SlurmdSpoolDir={r / 'spool'}
SlurmctldPidFile={r / 'slurmctld.pid'}
SlurmdPidFile={r / 'slurmd.pid'}
SlurmctldLogFile={self.logs / 'slurmctld.log'}
SlurmdLogFile={self.logs / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=600
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
JobAcctGatherFrequency=0
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={p['dbd']}
AccountingStoragePass={self.munge_socket}
AccountingStorageEnforce=associations
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        dbd = self.conf.parent / "slurmdbd.conf"  # slurmdbd reads it beside slurm.conf
        dbd.write_text(f"""\
{MARK}
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={p['dbd']}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={p['mysql']}
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile={r / 'slurmdbd.pid'}
LogFile={self.logs / 'slurmdbd.log'}
""")
        dbd.chmod(0o600)

    def _slurmdbd(self) -> None:
        self.run(_sbin("slurmdbd"))
        self._pidfile("slurmdbd", self.root / "slurmdbd.pid")
        wait_until(lambda: self.run("sacctmgr", "-n", "list", "cluster", check=False).returncode == 0, "slurmdbd")
        self.run("sacctmgr", "-i", "add", "cluster", CLUSTER)
        self.run("sacctmgr", "-i", "add", "account", ACCOUNT, f"Cluster={CLUSTER}")
        user = pwd.getpwuid(os.getuid()).pw_name
        self.run("sacctmgr", "-i", "add", "user", user, f"Account={ACCOUNT}", f"DefaultAccount={ACCOUNT}")

    def _slurm(self) -> None:
        self.run(_sbin("slurmctld"), "-f", str(self.conf))
        self._pidfile("slurmctld", self.root / "slurmctld.pid")
        self.run(_sbin("slurmd"), "-f", str(self.conf), "-N", self.node)
        self._pidfile("slurmd", self.root / "slurmd.pid")
        wait_until(lambda: "idle" in self.run("sinfo", "-h", "-o", "%T").stdout, "the SLURM node to be idle")

    def _postgres(self) -> None:
        bindir = pg_bin()
        # its own folder under the system temp dir: the test's tmp_path (0700, root's) is closed to
        # the postgres user
        self.pg_root = Path(tempfile.mkdtemp(prefix="emofusion-pg-"))
        data, sock = self.pg_root / "data", self.pg_root / "sock"
        data.mkdir(mode=0o700)
        sock.mkdir()
        as_pg: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            for d in (self.pg_root, data, sock):
                shutil.chown(d, "postgres")
            as_pg = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"],
                       check=True, capture_output=True)
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(self.pg_root / "postgres.log"),
                        "-o", f"-h 127.0.0.1 -p {self.ports['pg']} -k {sock}", "-w", "start"],
                       check=True, capture_output=True)
        self.pids.append(("postgres", int((data / "postmaster.pid").read_text().split()[0])))
        subprocess.run([*as_pg, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.ports["pg"]),
                        "-U", "postgres", "mlflow"], check=True, capture_output=True)

    def _mlflow(self) -> None:
        backend = f"postgresql+psycopg2://postgres@127.0.0.1:{self.ports['pg']}/mlflow"
        with open(self.logs / "mlflow.log", "w") as log:  # the child keeps its own descriptor
            p = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                                  "--port", str(self.ports["mlflow"]), "--workers", "2",
                                  "--backend-store-uri", backend, "--artifacts-destination", str(self.artifacts)],
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pids.append(("mlflow", p.pid))
        self._mlflow_proc = p
        # listening, not necessarily ready: the workflow's tracking init waits for /health (it fails at
        # once on a refused connection, by design, so the port must be bound before the workflow starts)
        wait_until(lambda: socket.create_connection(("127.0.0.1", self.ports["mlflow"]), timeout=1).close() or True,
                   "the MLflow server to listen", timeout=120)

    # ------------------------------------------------------------------ stop

    def _cancel_jobs(self) -> None:
        """Cancel every job still queued or running (a test that failed or timed out midway) and
        wait for SLURM to end them, so no job step outlives slurmd."""
        if _squeue_empty(self):
            return
        self.run("scancel", "--full", "-u", pwd.getpwuid(os.getuid()).pw_name, check=False)
        try:
            wait_until(lambda: _squeue_empty(self), "SLURM to end the cancelled jobs", timeout=60)
        except RuntimeError:
            pass  # slurmd's SIGTERM below ends what is left

    def stop(self) -> list[str]:
        """SIGTERM every started PID (newest first), SIGKILL what is left after 30 s; returns the
        names of processes that had to be killed."""
        killed = []
        if any(name == "slurmctld" for name, _ in self.pids):
            self._cancel_jobs()
        for name, pid in reversed(self.pids):
            sig = signal.SIGINT if name == "postgres" else signal.SIGTERM  # postgres: fast shutdown
            try:
                if name == "mlflow":
                    os.killpg(pid, sig)  # the server and its workers
                else:
                    os.kill(pid, sig)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 30
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if alive(pid):
                killed.append(name)
                try:
                    os.killpg(pid, signal.SIGKILL) if name == "mlflow" else os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if hasattr(self, "_mlflow_proc"):
            self._mlflow_proc.wait(timeout=30)
        self.pids.clear()
        for f in getattr(self, "written", []):
            if f.exists():
                shutil.copy(f, self.logs / f.name)  # kept with the logs for a post-mortem
                f.unlink()
        if getattr(self, "created_etc", False):
            try:
                ETC.rmdir()
            except OSError:
                pass
        if getattr(self, "pg_root", None) is not None:
            if (self.pg_root / "postgres.log").exists():
                shutil.copy(self.pg_root / "postgres.log", self.logs / "postgres.log")
            shutil.rmtree(self.pg_root, ignore_errors=True)
        return killed


def _squeue_empty(cluster: Cluster) -> bool:
    return cluster.run("squeue", "-h", "-o", "%i", check=False).stdout.strip() == ""


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (our own exited children reaped first; a zombie counts as gone)."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own children (mariadbd, mlflow)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
