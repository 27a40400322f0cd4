"""A throwaway evax-node cluster on loopback, for scripts and tests (issue 14).

PostgreSQL (initdb in a temporary folder, as the evax-pgtest user when run as root, since
PostgreSQL refuses root), N `evax-node serve` processes on one database and one shared data_dir,
HAProxy in `mode tcp` with `balance leastconn` and a `check` on each node's DICOM port in front
of them (the README's recipe), and one destination (the repository's evax-test-scp, which logs
every C-STORE it receives, so duplicates can be counted).

    with Cluster(node_binary, test_scp_binary, nodes=3) as cluster:
        cluster.start()
        cluster.haproxy_port        # send here
        cluster.kill(1); cluster.restart(1)
        cluster.query("SELECT ...")  # rows as lists of strings (psql)

Only the standard library; psql, initdb and pg_ctl from Debian's postgresql, haproxy.
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # scripts/
from local_services import free_port, wait_port  # noqa: E402

PG_USER = "evax-pgtest"   # made by scripts/install-deps.sh
PG_SUPERUSER = "evax"
DATABASE = "evax"
AE_TITLE = "EVAX"
DESTINATION_AE = "PACS"


def pg_bindir():
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if os.path.exists(os.path.join(out, "initdb")):
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    versions = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True)
    for v in versions:
        path = f"/usr/lib/postgresql/{v}/bin"
        if os.path.exists(os.path.join(path, "initdb")):
            return path
    raise RuntimeError("no PostgreSQL server binaries: run scripts/install-deps.sh")


class Postgres:
    """A PostgreSQL server in its own folder on a free loopback port; fsync on."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pg")
        os.makedirs(self.dir)
        self.bindir = pg_bindir()
        self.prefix = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(PG_USER)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            os.chmod(workdir, 0o755)  # the server's user must reach its folder
            self.prefix = ["runuser", "-u", PG_USER, "--"]
        self.port = None

    def _run(self, binary, *args):
        result = subprocess.run(self.prefix + [os.path.join(self.bindir, binary), *args], cwd=self.dir,
                                capture_output=True, text=True, timeout=90)
        if result.returncode != 0:
            raise RuntimeError(f"{binary} failed: {result.stdout}{result.stderr}\n{self.log()}")
        return result.stdout

    def log(self):
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def start(self):
        data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", data, "-U", PG_SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        self.port = free_port()
        with open(os.path.join(data, "postgresql.conf"), "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
                       "fsync = on\nsynchronous_commit = on\nmax_connections = 200\nshared_buffers = 32MB\n")
        self._run("pg_ctl", "-D", data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_SUPERUSER, DATABASE)

    def stop(self):
        if self.port is not None:
            try:
                self._run("pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "immediate", "-w", "-t", "30", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            self.port = None

    def dsn(self):
        return f"host=127.0.0.1 port={self.port} dbname={DATABASE} user={PG_SUPERUSER} sslmode=disable"

    def query(self, sql):
        """Rows of a query as lists of strings (NULL as '')."""
        result = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", self.dsn(), "-c", sql],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}\n{sql}")
        return [line.split("\t") for line in result.stdout.splitlines() if line != ""]


class Node:
    """One `evax-node serve` with its generated config; its log appends across restarts."""

    def __init__(self, binary, workdir, index, settings):
        self.binary = binary
        self.node_id = f"node{index}"
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.config_path = os.path.join(workdir, f"{self.node_id}.json")
        self.log_path = os.path.join(workdir, f"{self.node_id}.log")
        self.proc = None
        self.starts = 0
        with open(self.config_path, "w") as f:
            json.dump(settings(self), f, indent=1)

    def start(self, timeout=90):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.binary, "serve", "--config", self.config_path], stdout=log, stderr=log)
        log.close()
        self.starts += 1
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path, errors="replace") as f:
                if f.read().count(" node ready: ") >= self.starts:  # one per start-up
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.node_id} exited during start-up; see {self.log_path}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.node_id} did not become ready in {timeout} s; see {self.log_path}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def haproxy_config(port, nodes):
    """The README's recipe: TCP, least connections, a health check on each DICOM port."""
    servers = "\n".join(f"    server {n.node_id} 127.0.0.1:{n.dicom_port} check" for n in nodes)
    return f"""global
    maxconn 2000
defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch
frontend dicom
    bind 127.0.0.1:{port}
    default_backend evax_nodes
backend evax_nodes
    balance leastconn
    default-server inter 500ms fall 2 rise 2
{servers}
"""


class Cluster:
    def __init__(self, node_binary, test_scp_binary, nodes=3, workdir=None, quiet_period_s=1, heartbeat_s=1,
                 lease_s=4, workers=1, database="postgresql", keep=False, haproxy=True):
        self.node_binary = node_binary
        self.test_scp_binary = test_scp_binary
        self.keep = keep or workdir is not None
        self.workdir = workdir or tempfile.mkdtemp(prefix="evax-cluster-")
        os.makedirs(self.workdir, exist_ok=True)
        self.data_dir = os.path.join(self.workdir, "data")  # one folder every node sees
        self.node_count = nodes
        self.quiet_period_s = quiet_period_s
        self.heartbeat_s = heartbeat_s
        self.lease_s = lease_s
        self.workers = workers
        self.database = database
        self.use_haproxy = haproxy
        self.postgres = Postgres(self.workdir) if database == "postgresql" else None
        self.nodes = []
        self.haproxy = None
        self.haproxy_port = None
        self.destination = None
        self.destination_port = None
        self.destination_dir = os.path.join(self.workdir, "destination")
        self.destination_log = os.path.join(self.workdir, "destination.log")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _settings(self, node):
        storage = {"data_dir": self.data_dir, "min_free_mb": 64}
        if self.database == "postgresql":
            storage["database"] = {"kind": "postgresql", "dsn": self.postgres.dsn(), "pool_size": 4}
        return {
            "dicom": {"ae_title": AE_TITLE, "port": node.dicom_port, "acse_timeout_s": 5, "dimse_timeout_s": 15},
            "storage": storage,
            "cluster": {"node_id": node.node_id, "address": "127.0.0.1", "heartbeat_s": self.heartbeat_s,
                        "lease_s": self.lease_s},
            "study": {"quiet_period_s": self.quiet_period_s},
            "model": {"classifier": {"checkpoint": "demo:tiny"}, "device": "cpu", "cam_top_k": 0},
            "workers": {"count": self.workers},
            "http": {"port": node.http_port},
            "logging": {"level": "info"},
            "destinations": [{"name": "pacs", "ae_title": DESTINATION_AE, "host": "127.0.0.1",
                              "port": self.destination_port}],
        }

    def start(self):
        os.makedirs(self.destination_dir, exist_ok=True)
        self.destination_port = free_port()
        self.destination = subprocess.Popen(
            [self.test_scp_binary, str(self.destination_port), DESTINATION_AE, self.destination_dir, self.destination_log],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.destination_port, 30)
        if self.postgres:
            self.postgres.start()
        for i in range(1, self.node_count + 1):
            node = Node(self.node_binary, self.workdir, i, self._settings)
            self.nodes.append(node)
            node.start()
        if self.use_haproxy:
            self.haproxy_port = free_port()
            cfg = os.path.join(self.workdir, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(haproxy_config(self.haproxy_port, self.nodes))
            log = open(os.path.join(self.workdir, "haproxy.log"), "a")
            self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=log, stderr=log)
            log.close()
            wait_port(self.haproxy_port, 30)
            time.sleep(1.5)  # the first health checks mark the servers up

    def store_port(self):
        return self.haproxy_port if self.use_haproxy else self.nodes[0].dicom_port

    def query(self, sql):
        return self.postgres.query(sql)

    def destination_received(self):
        """SOP Instance UIDs the destination accepted, one entry per C-STORE (duplicates kept)."""
        try:
            with open(self.destination_log) as f:
                return [parts[0] for parts in (line.split() for line in f) if len(parts) == 2 and parts[1] == "0000"]
        except FileNotFoundError:
            return []

    def close(self):
        for node in self.nodes:
            node.stop()
        for proc in (self.haproxy, self.destination):
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.postgres:
            self.postgres.stop()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
