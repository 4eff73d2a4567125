#!/usr/bin/env python3
"""paypki side-by-side benchmark: OCSP, issuance, verification, CRLs, memory.

Runs paypki and its peers (the `openssl` CLI and CFSSL) on loopback on this machine,
drives the same load at each with wrk, and prints one table with every figure and the
paypki/peer ratio. A second paypki CA whose keys are on a SoftHSM2 token (made in a
temporary SOFTHSM2_CONF directory) is measured for issuance and nonce OCSP next to the
CA with key files. Writes docs/bench/results.json and docs/bench/throughput.svg.
Called by scripts/bench, which installs the tools and builds paypki first; the binaries
are read from $CARGO_TARGET_DIR (relative to the repository, as cargo does when run
there) or target/.
"""

import argparse
import base64
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cargo_target_dir():
    """Where cargo puts what it builds, as cargo itself reports it: CARGO_TARGET_DIR,
    CARGO_BUILD_TARGET_DIR or a .cargo/config.toml build.target-dir all count."""
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
                          cwd=ROOT, check=True, capture_output=True).stdout
    return json.loads(meta)["target_directory"]


TARGET = cargo_target_dir()
PAYPKI = os.path.join(TARGET, "release", "paypki")
EXAMPLES = os.path.join(TARGET, "release", "examples")
POLICIES = os.path.join(ROOT, "policies")

# The CA with token keys: Debian's SoftHSM2 module, one token made for the run.
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SOFTHSM_TOKEN = "paypki-bench"
SOFTHSM_SO_PIN = "1234"
SOFTHSM_PIN = "5678"

# wrk: one Lua file for every POST load; it also skips wrk's connect probe, which makes
# `openssl ocsp` hang for good (a connection that closes without a request).
LUA = r"""
local bodies = {}
local index = 0
local threads = 1
local counter = 0
thread_id = 0 -- a global: setup() sets it per thread

function setup(thread)
   thread:set("thread_id", counter)
   counter = counter + 1
end

function init(args)
   threads = tonumber(args[3] or "1")
   local file = io.open(args[1], "rb")
   local content_type = args[2]
   if args[4] == "lines" then
      local i = 0
      for line in file:lines() do
         if i % threads == thread_id then table.insert(bodies, line) end
         i = i + 1
      end
   else
      table.insert(bodies, file:read("*a"))
   end
   file:close()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = content_type
end

function request()
   index = index + 1
   if index > #bodies then index = 1 end
   return wrk.format(nil, nil, nil, bodies[index])
end
"""

NO_PROBE = r"""
function wrk.resolve(host, service)
   wrk.addrs = wrk.lookup(host, service)
end
"""


def run(cmd, **kw):
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    return subprocess.run(cmd, **kw)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Ca:
    """One paypki CA served by its own `paypki serve` on loopback."""

    def __init__(self, name, data, url, env):
        self.name, self.data, self.url, self.env = name, data, url, env
        self.proc = None
        self.admin = None

    def post_json(self, path, body, admin=False):
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        if admin:
            request.add_header("authorization", "Bearer " + self.admin)
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.load(response)

    def tokens(self, count):
        out = []
        while len(out) < count:
            n = min(10_000, count - len(out))
            items = [{"role": "merchant", "subject": "CN=Bench Shop,O=Bench Ltd,serialNumber=M1234567"}] * n
            out += [t["token"] for t in self.post_json("/v1/admin/tokens/batch", {"items": items}, admin=True)["tokens"]]
        return out


class Bench:
    def __init__(self, args):
        self.args = args
        self.seconds = args.seconds
        self.work = tempfile.mkdtemp(prefix="paypki-bench-")
        self.temp_dirs = [self.work]
        self.results = {}
        self.processes = []
        self.ca = None  # paypki with key files
        self.hsm = None  # paypki with SoftHSM2 keys
        with open(os.path.join(self.work, "post.lua"), "w") as f:
            f.write(LUA + NO_PROBE)
        with open(os.path.join(self.work, "get.lua"), "w") as f:
            f.write(NO_PROBE)

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    # ---------------------------------------------------------------- processes
    def start(self, cmd, name, wait_url=None, env=None):
        logf = open(self.path(name + ".log"), "wb")
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.processes.append(proc)
        if wait_url:
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    urllib.request.urlopen(wait_url, timeout=1)
                    break
                except Exception:
                    if proc.poll() is not None:
                        raise SystemExit(f"{name} exited; see {self.path(name + '.log')}")
                    time.sleep(0.2)
            else:
                raise SystemExit(f"{name} did not come up; see {self.path(name + '.log')}")
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def cleanup(self):
        for proc in self.processes:
            try:
                self.stop(proc)
            except ProcessLookupError:
                pass
        if self.args.keep:
            log("kept: " + " ".join(self.temp_dirs))
        else:
            for directory in self.temp_dirs:
                shutil.rmtree(directory, ignore_errors=True)

    # ---------------------------------------------------------------- wrk
    def wrk(self, url, body=None, content_type=None, lines=False, connections=32, netns_prefix=None):
        cmd = ["wrk", "-t2", f"-c{connections}", f"-d{self.seconds}s", "--latency", "--timeout", "5s"]
        if body:
            cmd += ["-s", self.path("post.lua"), url, "--", body, content_type, "2", "lines" if lines else "static"]
        else:
            cmd += ["-s", self.path("get.lua"), url]
        if netns_prefix:
            cmd = netns_prefix + cmd
        out = run(cmd, check=False).stdout.decode()
        return parse_wrk(out)

    # ---------------------------------------------------------------- paypki
    def paypki(self, *args, check=True):
        return run([PAYPKI, "--data-dir", self.path("pp"), "--policies", POLICIES, *args], check=check)

    def start_ca(self, name, port, init_args, env, idle_rss_key=None):
        """`paypki init` and `paypki serve` for one CA, and one certificate from it: the
        leaf whose status the OCSP figures ask for (`<name>-leaf.pem`, its issuer
        `<name>-issuing.pem`, the chain `<name>-chain.pem`, the OCSP requests
        `<name>-req.der` and `<name>-req-nonce.der`)."""
        url = f"http://127.0.0.1:{port}"
        ca = Ca(name, self.path(name), url, env)
        run([PAYPKI, "--data-dir", ca.data, "--policies", POLICIES, "init", "--base-url", url, *init_args], env=env)
        ca.proc = self.start(
            [PAYPKI, "--data-dir", ca.data, "--policies", POLICIES, "serve", "--listen", f"127.0.0.1:{port}",
             # One loopback client drives every figure: per-client limits off.
             "--enroll-rate", "100000000", "--verify-rate-ms", "0"],
            name, wait_url=url + "/healthz", env=env)
        ca.admin = open(os.path.join(ca.data, "admin.token")).read().strip()
        if idle_rss_key:
            time.sleep(1)
            self.record(idle_rss_key, self.rss_kib(ca.proc))
        if not os.path.exists(self.path("leaf.csr")):
            run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.path("leaf.key")])
            run(["openssl", "req", "-new", "-key", self.path("leaf.key"), "-subj", "/", "-out", self.path("leaf.csr")])
        issued = ca.post_json("/v1/enroll", {"token": ca.tokens(1)[0], "csr": open(self.path("leaf.csr")).read()})
        ca.serial = issued["serial"]
        ca.leaf = self.path(f"{name}-leaf.pem")
        with open(ca.leaf, "w") as f:
            f.write(issued["certificate"])
        ca.issuing = self.path(f"{name}-issuing.pem")
        shutil.copy(os.path.join(ca.data, "certs", "issuing.crt.pem"), ca.issuing)
        ca.chain = self.path(f"{name}-chain.pem")
        with open(ca.chain, "wb") as f:
            f.write(urllib.request.urlopen(url + "/ca/chain.pem", timeout=10).read())
        ca.req = self.path(f"{name}-req.der")
        ca.req_nonce = self.path(f"{name}-req-nonce.der")
        run(["openssl", "ocsp", "-issuer", ca.issuing, "-cert", ca.leaf, "-no_nonce", "-reqout", ca.req])
        run(["openssl", "ocsp", "-issuer", ca.issuing, "-cert", ca.leaf, "-nonce", "-reqout", ca.req_nonce])
        return ca

    def check_ocsp(self, ca):
        """One OCSP request with a nonce, checked by `openssl ocsp`: the responder signed
        it (not tryLater) and it verifies up to the root."""
        out = run(["openssl", "ocsp", "-issuer", ca.issuing, "-cert", ca.leaf, "-url", ca.url + "/ocsp", "-nonce",
                   "-CAfile", ca.chain, "-timeout", "10"], check=False)
        text = out.stdout.decode() + out.stderr.decode()
        if out.returncode != 0 or "Response verify OK" not in text or f"{ca.leaf}: good" not in text:
            raise SystemExit(f"{ca.name}: OCSP with a nonce did not verify:\n{text}")

    def setup_paypki(self):
        self.ca = self.start_ca("pp", 18080, [], dict(os.environ, PAYPKI_LOG="warn"), idle_rss_key="rss_idle_kib")
        # The names the peers' figures use.
        self.pp, self.pp_url, self.serial = self.ca.proc, self.ca.url, self.ca.serial
        shutil.copy(self.ca.leaf, self.path("leaf.pem"))
        shutil.copy(self.ca.issuing, self.path("issuing.pem"))
        shutil.copy(self.ca.req, self.path("req.der"))
        shutil.copy(self.ca.req_nonce, self.path("req-nonce.der"))
        shutil.copy(self.path("pp", "certs", "ocsp.crt.pem"), self.path("ocsp.pem"))
        shutil.copy(self.path("pp", "keys", "ocsp.key.pem"), self.path("ocsp.key"))
        shutil.copy(self.path("pp", "keys", "issuing.key.pem"), self.path("issuing.key"))
        run(["openssl", "ec", "-in", self.path("ocsp.key"), "-out", self.path("ocsp.sec1.key")])
        run(["openssl", "ec", "-in", self.path("issuing.key"), "-out", self.path("issuing.sec1.key")])
        self.check_ocsp(self.ca)

    def setup_softhsm(self):
        """The same CA with its issuing and OCSP keys on a SoftHSM2 token: a token made
        in a SOFTHSM2_CONF directory of its own (removed at the end), `paypki init
        --key-store pkcs11`, and `paypki serve` with the same environment."""
        log("paypki with SoftHSM2 keys")
        hsm_dir = tempfile.mkdtemp(prefix="paypki-bench-softhsm-")
        self.temp_dirs.append(hsm_dir)
        os.mkdir(os.path.join(hsm_dir, "tokens"))
        conf = os.path.join(hsm_dir, "softhsm2.conf")
        with open(conf, "w") as f:
            f.write(f"directories.tokendir = {os.path.join(hsm_dir, 'tokens')}\n"
                    "objectstore.backend = file\nlog.level = ERROR\n")
        env = dict(os.environ, PAYPKI_LOG="warn", SOFTHSM2_CONF=conf, PAYPKI_PKCS11_PIN=SOFTHSM_PIN)
        run(["softhsm2-util", "--init-token", "--free", "--label", SOFTHSM_TOKEN,
             "--so-pin", SOFTHSM_SO_PIN, "--pin", SOFTHSM_PIN], env=env)
        self.hsm = self.start_ca("pp-softhsm", 18081, [
            "--key-store", "pkcs11", "--pkcs11-module", SOFTHSM_MODULE, "--pkcs11-token", SOFTHSM_TOKEN,
            "--key-alg", "ecdsa-p256"], env)
        # Both keys must really be on the token: no key file, a reference in its place.
        for key in ("issuing", "ocsp"):
            if os.path.exists(os.path.join(self.hsm.data, "keys", f"{key}.key.pem")) or \
                    not os.path.exists(os.path.join(self.hsm.data, "keys", f"{key}.key.toml")):
                raise SystemExit(f"pp-softhsm: the {key} key is not a token reference")
        self.check_ocsp(self.hsm)

    def setup_postgres(self):
        """The same CA's records on PostgreSQL (a throw-away server from scripts/pg,
        stopped at the end): node A as `start_ca` makes it, and node B, a copy of A's
        data directory serving the same database."""
        log("paypki on PostgreSQL (two nodes)")
        parent = tempfile.mkdtemp(prefix="paypki-bench-pg-")
        os.chmod(parent, 0o755)  # the server runs as the postgres user
        self.pg_dir = os.path.join(parent, "pg")
        self.temp_dirs.append(parent)
        url = run([os.path.join(ROOT, "scripts", "pg"), "start", self.pg_dir]).stdout.decode().strip()
        env = dict(os.environ, PAYPKI_LOG="warn", PAYPKI_DATABASE_URL=url)
        self.pg_a = self.start_ca("pp-pg", 18082, [], env)
        data_b = self.path("pp-pg-b")
        shutil.copytree(self.pg_a.data, data_b, ignore=shutil.ignore_patterns("db", "db-revoked", "server.json", "serve.lock"))
        self.pg_b = Ca("pp-pg-b", data_b, "http://127.0.0.1:18083", env)
        self.pg_b.proc = self.start(
            [PAYPKI, "--data-dir", data_b, "--policies", POLICIES, "serve", "--listen", "127.0.0.1:18083",
             "--enroll-rate", "100000000", "--verify-rate-ms", "0"],
            "pp-pg-b", wait_url=self.pg_b.url + "/healthz", env=env)
        self.pg_b.admin = self.pg_a.admin
        for attr in ("serial", "leaf", "issuing", "chain", "req", "req_nonce"):
            setattr(self.pg_b, attr, getattr(self.pg_a, attr))
        self.check_ocsp(self.pg_a)
        self.check_ocsp(self.pg_b)

    def stop_postgres(self):
        for ca in (getattr(self, "pg_a", None), getattr(self, "pg_b", None)):
            if ca and ca.proc:
                self.stop(ca.proc)
        if getattr(self, "pg_dir", None):
            run([os.path.join(ROOT, "scripts", "pg"), "stop", self.pg_dir], check=False)
            self.pg_dir = None

    def wrk_both(self, a, b, **kw):
        """wrk against two nodes at once (half the connections each, one thread each):
        the sum of what both served."""
        procs = []
        for url, body in (a, b):
            cmd = ["wrk", "-t1", f"-c{kw.get('connections', 32) // 2}", f"-d{self.seconds}s", "--latency", "--timeout", "5s"]
            if body:
                cmd += ["-s", self.path("post.lua"), url, "--", body, kw["content_type"], "2", "lines" if kw.get("lines") else "static"]
            else:
                cmd += ["-s", self.path("get.lua"), url]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        results = [parse_wrk(p.communicate()[0].decode()) for p in procs]
        total = {"rps": round(sum(r["rps"] for r in results), 1),
                 "requests": sum(r["requests"] for r in results),
                 "non2xx": sum(r["non2xx"] for r in results),
                 "p50_ms": max(r["p50_ms"] or 0 for r in results),
                 "p99_ms": max(r["p99_ms"] or 0 for r in results),
                 "nodes": results}
        return total

    def bench_postgres(self):
        log("PostgreSQL: OCSP and issuance, one node and two")
        ctype = "application/ocsp-request"
        for ca in (self.pg_a, self.pg_b):
            urllib.request.urlopen(urllib.request.Request(ca.url + "/ocsp", data=open(ca.req, "rb").read(),
                                                          headers={"content-type": ctype}))
        self.record("ocsp_pg_post", self.wrk(self.pg_a.url + "/ocsp", self.pg_a.req, ctype))
        self.record("ocsp_pg_nonce", self.wrk(self.pg_a.url + "/ocsp", self.pg_a.req_nonce, ctype))
        self.record("ocsp_pg2_post", self.wrk_both((self.pg_a.url + "/ocsp", self.pg_a.req),
                                                   (self.pg_b.url + "/ocsp", self.pg_b.req), content_type=ctype))
        self.issue(self.pg_a, "issue_pg")
        # Two nodes: one pool of tokens (one database), half the requests to each node.
        expected = int(self.args.issue_rate_guess * self.seconds * 1.5)
        tokens = self.pg_a.tokens(expected)
        csr = open(self.path("leaf.csr")).read()
        halves = [self.path("pg2-a.jsonl"), self.path("pg2-b.jsonl")]
        for i, half in enumerate(halves):
            with open(half, "w") as f:
                for token in tokens[i::2]:
                    f.write(json.dumps({"token": token, "csr": csr}) + "\n")
        both = self.wrk_both((self.pg_a.url + "/v1/enroll", halves[0]), (self.pg_b.url + "/v1/enroll", halves[1]),
                             content_type="application/json", lines=True)
        both["issued"] = both["requests"] - both["non2xx"]
        both["rps"] = round(both["issued"] / self.seconds, 1)
        self.record("issue_pg2", both)
        self.check_ocsp(self.pg_b)
        self.stop_postgres()

    def stop_softhsm(self):
        if self.hsm and self.hsm.proc:
            self.stop(self.hsm.proc)

    def post_json(self, path, body, admin=False):
        return self.ca.post_json(path, body, admin)

    def tokens(self, count):
        return self.ca.tokens(count)

    @staticmethod
    def cpu_seconds(proc):
        """(user, system) CPU seconds the process has used so far (all its threads)."""
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def rss_kib(self, proc):
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    # ---------------------------------------------------------------- figures
    def record(self, key, value):
        self.results[key] = value
        log(f"  {key}: {value}")

    def bench_floor(self):
        log("HTTP floor (empty axum handler)")
        proc = self.start([os.path.join(EXAMPLES, "empty_axum"), "127.0.0.1:18090"], "empty_axum",
                          wait_url="http://127.0.0.1:18090/")
        self.record("floor", self.wrk("http://127.0.0.1:18090/"))
        self.stop(proc)

    def bench_ring(self):
        log("ring ECDSA P-256, one core")
        out = run([os.path.join(EXAMPLES, "ring_rate"), "3"]).stdout.decode()
        self.record("ring", json.loads(out))

    def bench_ocsp(self):
        log("OCSP")
        encoded = urllib.parse.quote(base64.b64encode(open(self.path("req.der"), "rb").read()).decode(), safe="")
        # Warm the pre-signed cache once, as any first request does.
        urllib.request.urlopen(urllib.request.Request(self.pp_url + "/ocsp", data=open(self.path("req.der"), "rb").read(),
                                                      headers={"content-type": "application/ocsp-request"}))
        ctype = "application/ocsp-request"
        self.record("ocsp_paypki_post", self.wrk(self.pp_url + "/ocsp", self.path("req.der"), ctype))
        self.record("ocsp_paypki_get", self.wrk(f"{self.pp_url}/ocsp/{encoded}"))
        self.record("ocsp_paypki_nonce", self.wrk(self.pp_url + "/ocsp", self.path("req-nonce.der"), ctype))
        # The same with the responder key on the SoftHSM2 token: every response is signed
        # there (C_Sign), then verified in-process before it is sent.
        self.record("ocsp_paypki_nonce_softhsm", self.wrk(self.hsm.url + "/ocsp", self.hsm.req_nonce, ctype))
        self.check_ocsp(self.hsm)

        # openssl ocsp: an index in `openssl ca` format; it listens on every interface, so
        # it runs with wrk inside a private network namespace (loopback only). The
        # namespace has its own PIDs too: `openssl ocsp -multi` stops its workers only
        # when one of them exits, and they can spin after wrk's connections close, but
        # when the namespace's first process (sh) ends, the kernel kills every process
        # left in it; --kill-child ends sh if unshare itself is killed.
        not_after = run(["openssl", "x509", "-in", self.path("leaf.pem"), "-noout", "-enddate"]).stdout.decode()
        expiry = datetime.datetime.strptime(not_after.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
        with open(self.path("index.txt"), "w") as f:
            f.write(f"V\t{expiry:%y%m%d%H%M%S}Z\t\t{self.serial.upper()}\tunknown\t/CN=bench\n")
        script = (
            "ip link set lo up; "
            f"openssl ocsp -index {self.path('index.txt')} -port 18888 -rsigner {self.path('ocsp.pem')} "
            f"-rkey {self.path('ocsp.key')} -CA {self.path('issuing.pem')} -nmin 60 -multi 2 "
            f"> {self.path('openssl-ocsp.log')} 2>&1 & responder=$!; "
            "sleep 1; "
            f"wrk -t2 -c32 -d{self.seconds}s --latency --timeout 5s -s {self.path('post.lua')} http://127.0.0.1:18888/ "
            f"-- {self.path('req.der')} {ctype} 2 static; "
            "kill $responder 2>/dev/null; true"
        )
        out = run(["unshare", "--net", "--pid", "--fork", "--kill-child", "sh", "-c", script],
                  check=False).stdout.decode()
        self.record("ocsp_openssl_post", parse_wrk(out))

        # cfssl ocspserve from responses signed by cfssl ocspsign (Debian's 2016 build:
        # POST without nonce only).
        signed = run(["cfssl", "ocspsign", "-ca", self.path("issuing.pem"), "-responder", self.path("ocsp.pem"),
                      "-responder-key", self.path("ocsp.sec1.key"), "-cert", self.path("leaf.pem"),
                      "-status", "good"]).stdout.decode()
        with open(self.path("responses.txt"), "w") as f:
            f.write(json.loads(signed)["ocspResponse"] + "\n")
        proc = self.start(["cfssl", "ocspserve", "-address", "127.0.0.1", "-port", "18889",
                           "-responses", self.path("responses.txt")], "cfssl-ocsp")
        time.sleep(1)
        self.record("ocsp_cfssl_post", self.wrk("http://127.0.0.1:18889/", self.path("req.der"), ctype))
        self.stop(proc)

    def issue(self, ca, key):
        """Durable issuance over HTTP: one-time tokens made beforehand, one line of
        {token, csr} per request; only 2xx answers count as issued."""
        expected = int(self.args.issue_rate_guess * self.seconds * 1.5)
        tokens = ca.tokens(expected)
        csr = open(self.path("leaf.csr")).read()
        lines = self.path(f"{ca.name}-enroll.jsonl")
        with open(lines, "w") as f:
            for token in tokens:
                f.write(json.dumps({"token": token, "csr": csr}) + "\n")
        # The sled database before the load, tokens made: what the issuance adds is
        # measured (a CA on PostgreSQL has no `db/`).
        has_db = os.path.isdir(os.path.join(ca.data, "db"))
        ca.db_bytes_before = self.db_bytes(ca) if has_db else None
        # The server's CPU over the load: whether the cores or waiting (the fsync, a
        # lock) bound the rate.
        (user_before, system_before) = self.cpu_seconds(ca.proc)
        result = self.wrk(ca.url + "/v1/enroll", lines, "application/json", lines=True)
        (user_after, system_after) = self.cpu_seconds(ca.proc)
        user, system = user_after - user_before, system_after - system_before
        result["issued"] = result["requests"] - result["non2xx"]
        issued = max(result["issued"], 1)
        result["server_cpu_share"] = round((user + system) / (self.seconds * (os.cpu_count() or 2)), 2)
        result["server_cpu_us_per_cert"] = round(1e6 * (user + system) / issued)
        result["server_system_us_per_cert"] = round(1e6 * system / issued)
        result["rps"] = round(result["issued"] / self.seconds, 1)
        result["tokens_prepared"] = len(tokens)
        if result["issued"] >= len(tokens):
            log(f"  {key}: every prepared token was used; raise --issue-rate-guess")
        self.record(key, result)

    def bench_issuance(self):
        log("Issuance")
        self.issue(self.ca, "issue_paypki")
        self.issued_footprint(self.ca, self.results["issue_paypki"]["issued"])
        # The same with the issuing and OCSP keys on the SoftHSM2 token: the certificate
        # and its pre-signed OCSP response are signed there.
        self.issue(self.hsm, "issue_paypki_softhsm")
        self.check_ocsp(self.hsm)
        self.stop_softhsm()

        # cfssl serve: signs with the same issuing key, stores nothing.
        with open(self.path("cfssl.json"), "w") as f:
            json.dump({"signing": {"default": {"expiry": "8760h", "usages": ["digital signature", "client auth"]}}}, f)
        run(["openssl", "req", "-new", "-key", self.path("leaf.key"), "-subj", "/CN=bench", "-out", self.path("cn.csr")])
        with open(self.path("cfssl-sign.json"), "w") as f:
            json.dump({"certificate_request": open(self.path("cn.csr")).read()}, f)
        proc = self.start(["cfssl", "serve", "-address", "127.0.0.1", "-port", "18890", "-ca", self.path("issuing.pem"),
                           "-ca-key", self.path("issuing.sec1.key"), "-config", self.path("cfssl.json")], "cfssl-serve")
        time.sleep(1.5)
        # CFSSL's CPU over its load too: the two servers' cost per certificate, side by side.
        (user_before, system_before) = self.cpu_seconds(proc)
        result = self.wrk("http://127.0.0.1:18890/api/v1/cfssl/sign", self.path("cfssl-sign.json"), "application/json")
        (user_after, system_after) = self.cpu_seconds(proc)
        user, system = user_after - user_before, system_after - system_before
        signed = max(result["requests"] - result["non2xx"], 1)
        result["server_cpu_share"] = round((user + system) / (self.seconds * (os.cpu_count() or 2)), 2)
        result["server_cpu_us_per_cert"] = round(1e6 * (user + system) / signed)
        result["server_system_us_per_cert"] = round(1e6 * system / signed)
        self.record("issue_cfssl", result)
        self.stop(proc)

    def bench_verify(self):
        log("Verification")
        message = b'{"amount":"10.00","currency":"EUR","merchant":"M1234567"}'
        with open(self.path("msg"), "wb") as f:
            f.write(message)
        run(["openssl", "dgst", "-sha256", "-sign", self.path("leaf.key"), "-out", self.path("msg.sig"), self.path("msg")])
        item = {"certificate": open(self.path("leaf.pem")).read(), "message": base64.b64encode(message).decode(),
                "signature": base64.b64encode(open(self.path("msg.sig"), "rb").read()).decode()}
        check = self.post_json("/v1/verify", item)
        assert check["valid"], check
        with open(self.path("verify.json"), "w") as f:
            json.dump(item, f)
        with open(self.path("batch.json"), "w") as f:
            json.dump({"items": [item] * 1000}, f)
        self.record("verify_single", self.wrk(self.pp_url + "/v1/verify", self.path("verify.json"), "application/json"))
        batch = self.wrk(self.pp_url + "/v1/verify/batch", self.path("batch.json"), "application/json", connections=4)
        batch["verifications_per_s"] = round(batch["rps"] * 1000)
        self.record("verify_batch", batch)

    def bench_crl(self, count):
        log(f"CRL with {count} entries")
        data = self.path(f"crl{count}")
        serial_file = self.path(f"serials{count}.hex")
        out = run([os.path.join(EXAMPLES, "load_store"), data, str(count), "1.0", serial_file]).stdout.decode()
        self.record(f"load_{count}", json.loads(out))
        paypki = timed([PAYPKI, "--data-dir", data, "--policies", POLICIES, "crl", "--out", self.path(f"paypki{count}.crl")])
        paypki["bytes"] = os.path.getsize(self.path(f"paypki{count}.crl"))
        self.record(f"crl_paypki_{count}", paypki)
        # What `serve` pays after each revocation: the database is already open.
        inproc = json.loads(run([os.path.join(EXAMPLES, "crl_build"), data]).stdout.decode())
        inproc["added_mib"] = round((inproc["hwm_after_kib"] - inproc["rss_before_kib"]) / 1024, 1)
        self.record(f"crl_paypki_inprocess_{count}", inproc)
        # The same serials for the peers.
        serials = [line.strip().upper().encode() for line in open(serial_file) if line.strip()]
        assert len(serials) == count, (len(serials), count)
        cadir = self.path(f"opensslca{count}")
        os.makedirs(cadir, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        with open(os.path.join(cadir, "index.txt"), "w") as f:
            revoked_at = f"{now:%y%m%d%H%M%S}Z,keyCompromise"
            expiry = f"{now.replace(year=now.year + 1):%y%m%d%H%M%S}Z"
            for serial in serials:
                f.write(f"R\t{expiry}\t{revoked_at}\t{serial.decode()}\tunknown\t/CN=x\n")
        with open(os.path.join(cadir, "crlnumber"), "w") as f:
            f.write("01\n")
        with open(os.path.join(cadir, "openssl.cnf"), "w") as f:
            f.write(f"""[ca]
default_ca = bench
[bench]
database = {cadir}/index.txt
crlnumber = {cadir}/crlnumber
certificate = {self.path('issuing.pem')}
private_key = {self.path('issuing.key')}
default_md = sha256
default_crl_days = 1
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
""")
        self.record(f"crl_openssl_{count}", timed(["openssl", "ca", "-config", os.path.join(cadir, "openssl.cnf"),
                                                   "-gencrl", "-out", self.path(f"openssl{count}.crl")]))
        with open(self.path(f"serials{count}.txt"), "w") as f:
            for serial in serials:
                f.write(f"{int(serial, 16)}\n")
        self.record(f"crl_cfssl_{count}", timed(["cfssl", "gencrl", self.path(f"serials{count}.txt"), self.path("issuing.pem"),
                                                 self.path("issuing.sec1.key"), ],
                                                stdout_file=self.path(f"cfssl{count}.crl.b64")))
        return data

    @staticmethod
    def db_bytes(ca):
        db = os.path.join(ca.data, "db")
        return sum(os.path.getsize(os.path.join(db, f)) for f in os.listdir(db)
                   if os.path.isfile(os.path.join(db, f)))

    def issued_footprint(self, ca, issued):
        """Bytes on disk per certificate as the server records them (batches of a few
        per transaction, each claiming its token), not as the bulk import writes them:
        how much the database directory grew over the issuance figure, per certificate
        issued. The tokens were made before (1.5 × the expected count, so the unused
        ones are not counted); what a token costs before it is used is left out."""
        grown = self.db_bytes(ca) - ca.db_bytes_before
        with open(ca.leaf, "rb") as f:
            der = len(base64.b64decode(b"".join(l for l in f.read().splitlines() if not l.startswith(b"-----"))))
        self.record("issued_footprint", {"certificates": issued, "db_bytes_grown": grown, "der_bytes": der,
                                         "bytes_per_certificate": round(grown / max(issued, 1))})

    def bench_footprint(self, count):
        """Bytes on disk per certificate with none revoked (the common case; the CRL
        figures' stores have every one revoked)."""
        log(f"Footprint of {count} certificates, none revoked")
        data = self.path(f"footprint{count}")
        out = run([os.path.join(EXAMPLES, "load_store"), data, str(count), "0"]).stdout.decode()
        self.record(f"footprint_{count}", json.loads(out))
        shutil.rmtree(data, ignore_errors=True)

    def bench_memory(self, data_1m):
        log("Memory")
        self.record("rss_after_load_kib", self.rss_kib(self.pp))
        proc = self.start([PAYPKI, "--data-dir", data_1m, "--policies", POLICIES, "serve", "--listen", "127.0.0.1:18099"],
                          "paypki-1m", wait_url="http://127.0.0.1:18099/healthz", env=dict(os.environ, PAYPKI_LOG="warn"))
        urllib.request.urlopen("http://127.0.0.1:18099/crl/issuing.crl").read()
        self.record("rss_1m_kib", self.rss_kib(proc))
        self.stop(proc)


def timed(cmd, stdout_file=None):
    started = time.time()
    with open(stdout_file or os.devnull, "wb") as out:
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], stdout=out, stderr=subprocess.PIPE, check=False)
    last = proc.stderr.decode().strip().splitlines()[-1]
    elapsed, peak = last.split()
    if proc.returncode != 0:
        log(proc.stderr.decode()[-2000:])
    return {"seconds": float(elapsed), "peak_mib": round(int(peak) / 1024, 1), "ok": proc.returncode == 0,
            "wall": round(time.time() - started, 2)}


def parse_wrk(out):
    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return None
        value, unit = float(m.group(1)), m.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 3)

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)", out)
    requests = re.search(r"(\d+) requests in", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "requests": int(requests.group(1)) if requests else 0, "p50_ms": latency(50), "p99_ms": latency(99),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1).strip() if errors else ""}


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def table(r, seconds):
    rows = []

    def add(name, paypki, peer, unit, peer_name):
        rows.append((name, paypki, peer, unit, peer_name))

    cores = os.cpu_count() or 2
    ring_limit = r["ring"]["verify_per_core"] * cores
    lines = ["| figure | paypki | peer | paypki/peer |", "| --- | ---: | ---: | ---: |"]

    def fmt_rps(x):
        return f"{x['rps']:,.0f} req/s (p50 {x['p50_ms']} ms, p99 {x['p99_ms']} ms)"

    def fmt_certs(x):
        return f"{x['rps']:,.0f} certs/s (p50 {x['p50_ms']} ms, p99 {x['p99_ms']} ms)"

    best_peer = max(r["ocsp_openssl_post"]["rps"], r["ocsp_cfssl_post"]["rps"])
    lines.append(f"| OCSP POST, no nonce vs `openssl ocsp` | {fmt_rps(r['ocsp_paypki_post'])} | {fmt_rps(r['ocsp_openssl_post'])} | {ratio(r['ocsp_paypki_post']['rps'], r['ocsp_openssl_post']['rps'])} |")
    lines.append(f"| OCSP POST, no nonce vs `cfssl ocspserve` | {fmt_rps(r['ocsp_paypki_post'])} | {fmt_rps(r['ocsp_cfssl_post'])} | {ratio(r['ocsp_paypki_post']['rps'], r['ocsp_cfssl_post']['rps'])} |")
    lines.append(f"| OCSP POST, no nonce vs faster peer | {r['ocsp_paypki_post']['rps']:,.0f} | {best_peer:,.0f} | {ratio(r['ocsp_paypki_post']['rps'], best_peer)} |")
    lines.append(f"| OCSP GET (RFC 5019) vs faster peer's POST | {fmt_rps(r['ocsp_paypki_get'])} | {best_peer:,.0f} | {ratio(r['ocsp_paypki_get']['rps'], best_peer)} |")
    lines.append(f"| OCSP POST, no nonce vs empty axum handler | {r['ocsp_paypki_post']['rps']:,.0f} | {fmt_rps(r['floor'])} | {ratio(r['ocsp_paypki_post']['rps'], r['floor']['rps'])} |")
    lines.append(f"| OCSP POST with nonce (signed live) vs `openssl ocsp` | {fmt_rps(r['ocsp_paypki_nonce'])} | {r['ocsp_openssl_post']['rps']:,.0f} | {ratio(r['ocsp_paypki_nonce']['rps'], r['ocsp_openssl_post']['rps'])} |")
    lines.append(f"| Durable issuance vs `cfssl serve` (stores nothing) | {fmt_certs(r['issue_paypki'])} | {fmt_rps(r['issue_cfssl'])} | {ratio(r['issue_paypki']['rps'], r['issue_cfssl']['rps'])} |")
    if r["issue_cfssl"].get("server_cpu_us_per_cert"):
        ours, theirs = r["issue_paypki"], r["issue_cfssl"]
        lines.append(f"| Issuance: server CPU per certificate (kernel part), share of the cores | "
                     f"{ours['server_cpu_us_per_cert']} µs ({ours['server_system_us_per_cert']} µs), {ours['server_cpu_share']:.0%} | "
                     f"{theirs['server_cpu_us_per_cert']} µs ({theirs['server_system_us_per_cert']} µs), {theirs['server_cpu_share']:.0%} | "
                     f"{ratio(ours['server_cpu_us_per_cert'], theirs['server_cpu_us_per_cert'])} |")
    # Token keys: paypki with its keys on a SoftHSM2 token (first column) against the same
    # paypki with key files (second column).
    if "ocsp_paypki_nonce_softhsm" in r:
        lines.append(f"| OCSP POST with nonce, SoftHSM2 keys vs key files | {fmt_rps(r['ocsp_paypki_nonce_softhsm'])} | {fmt_rps(r['ocsp_paypki_nonce'])} | {ratio(r['ocsp_paypki_nonce_softhsm']['rps'], r['ocsp_paypki_nonce']['rps'])} |")
    if "issue_paypki_softhsm" in r:
        lines.append(f"| Durable issuance, SoftHSM2 keys vs key files | {fmt_certs(r['issue_paypki_softhsm'])} | {fmt_certs(r['issue_paypki'])} | {ratio(r['issue_paypki_softhsm']['rps'], r['issue_paypki']['rps'])} |")
    # PostgreSQL: the same CA with its records on a PostgreSQL server on this machine (first
    # column) against sled (second column); two nodes share the database and the cores.
    if "issue_pg" in r:
        lines.append(f"| Durable issuance, PostgreSQL, one node vs sled | {fmt_certs(r['issue_pg'])} | {fmt_certs(r['issue_paypki'])} | {ratio(r['issue_pg']['rps'], r['issue_paypki']['rps'])} |")
        lines.append(f"| Durable issuance, PostgreSQL, two nodes vs sled | {fmt_certs(r['issue_pg2'])} | {fmt_certs(r['issue_paypki'])} | {ratio(r['issue_pg2']['rps'], r['issue_paypki']['rps'])} |")
        lines.append(f"| OCSP POST, no nonce, PostgreSQL, one node vs sled | {fmt_rps(r['ocsp_pg_post'])} | {fmt_rps(r['ocsp_paypki_post'])} | {ratio(r['ocsp_pg_post']['rps'], r['ocsp_paypki_post']['rps'])} |")
        lines.append(f"| OCSP POST, no nonce, PostgreSQL, two nodes vs sled | {fmt_rps(r['ocsp_pg2_post'])} | {fmt_rps(r['ocsp_paypki_post'])} | {ratio(r['ocsp_pg2_post']['rps'], r['ocsp_paypki_post']['rps'])} |")
        lines.append(f"| OCSP POST with nonce, PostgreSQL vs sled | {fmt_rps(r['ocsp_pg_nonce'])} | {fmt_rps(r['ocsp_paypki_nonce'])} | {ratio(r['ocsp_pg_nonce']['rps'], r['ocsp_paypki_nonce']['rps'])} |")
    lines.append(f"| Verification, batch of 1000 vs ring × {cores} cores | {r['verify_batch']['verifications_per_s']:,} verifications/s | {ring_limit:,.0f} | {ratio(r['verify_batch']['verifications_per_s'], ring_limit)} |")
    lines.append(f"| Verification, single calls vs ring × {cores} cores | {fmt_rps(r['verify_single'])} | {ring_limit:,.0f} | {ratio(r['verify_single']['rps'], ring_limit)} |")
    for n in (100_000, 1_000_000):
        if f"crl_paypki_{n}" not in r:
            continue
        p, o, c = r[f"crl_paypki_{n}"], r[f"crl_openssl_{n}"], r[f"crl_cfssl_{n}"]
        i = r[f"crl_paypki_inprocess_{n}"]
        lines.append(f"| CRL, {n:,} entries, in the server (database open): time, added memory | {i['seconds']} s, +{i['added_mib']} MiB | | |")
        lines.append(f"| CRL, {n:,} entries, `paypki crl` process: time vs `openssl ca -gencrl` | {p['seconds']} s | {o['seconds']} s | {ratio(o['seconds'], p['seconds'])} faster |")
        lines.append(f"| CRL, {n:,} entries, `paypki crl` process: time vs `cfssl gencrl` | {p['seconds']} s | {c['seconds']} s | {ratio(c['seconds'], p['seconds'])} faster |")
        lines.append(f"| CRL, {n:,} entries, `paypki crl` process: peak memory vs openssl / cfssl | {p['peak_mib']} MiB | {o['peak_mib']} / {c['peak_mib']} MiB | {ratio(p['peak_mib'], o['peak_mib'])} / {ratio(p['peak_mib'], c['peak_mib'])} |")
        load = r.get(f"load_{n}", {})
        if "bytes_per_certificate" in load:
            lines.append(f"| sled, {n:,} certificates, every one revoked: bytes on disk per certificate (DER {load['der_bytes']} bytes) | {load['bytes_per_certificate']:,} bytes ({load['db_bytes'] / 2**20:,.0f} MiB), {load['bytes_per_certificate'] / load['der_bytes']:.1f} × the DER | | |")
        plain = r.get(f"footprint_{n}", {})
        if "bytes_per_certificate" in plain:
            lines.append(f"| sled, {n:,} certificates, none revoked: bytes on disk per certificate (DER {plain['der_bytes']} bytes) | {plain['bytes_per_certificate']:,} bytes ({plain['db_bytes'] / 2**20:,.0f} MiB), {plain['bytes_per_certificate'] / plain['der_bytes']:.1f} × the DER | | |")
            lines.append(f"| sled, {n:,} certificates: bulk import, time and peak memory; first reopen | {load['seconds']} s, {load['peak_rss_kib'] / 1024:,.0f} MiB; {load['reopen_seconds']} s | | |")
    if "issued_footprint" in r:
        f = r["issued_footprint"]
        lines.append(f"| sled, {f['certificates']:,} certificates issued through the server: growth on disk per certificate (DER {f['der_bytes']} bytes) | {f['bytes_per_certificate']:,} bytes, {f['bytes_per_certificate'] / f['der_bytes']:.1f} × the DER | | |")
    lines.append(f"| paypki resident memory, idle after start | {r['rss_idle_kib'] / 1024:.1f} MiB | | |")
    lines.append(f"| paypki resident memory after the load figures above | {r['rss_after_load_kib'] / 1024:.1f} MiB | | |")
    if "rss_1m_kib" in r:
        lines.append(f"| paypki resident memory, 1,000,000 certificates stored | {r['rss_1m_kib'] / 1024:.1f} MiB | | |")
    lines.append(f"| ring ECDSA P-256, one core | {r['ring']['verify_per_core']:,} verify/s, {r['ring']['sign_per_core']:,} sign/s | | |")
    lines.append(f"| empty axum handler (HTTP floor) | {fmt_rps(r['floor'])} | | |")
    return "\n".join(lines)


def svg_chart(r, path):
    bars = [
        ("OCSP POST paypki", r["ocsp_paypki_post"]["rps"], "#1f6feb"),
        ("OCSP GET paypki", r["ocsp_paypki_get"]["rps"], "#1f6feb"),
        ("OCSP nonce paypki", r["ocsp_paypki_nonce"]["rps"], "#1f6feb"),
        ("OCSP nonce SoftHSM2", r["ocsp_paypki_nonce_softhsm"]["rps"], "#1f6feb"),
        ("OCSP openssl", r["ocsp_openssl_post"]["rps"], "#8b949e"),
        ("OCSP cfssl", r["ocsp_cfssl_post"]["rps"], "#8b949e"),
        ("empty axum", r["floor"]["rps"], "#d29922"),
        ("verify batch paypki", r["verify_batch"]["verifications_per_s"], "#1f6feb"),
        ("verify single paypki", r["verify_single"]["rps"], "#1f6feb"),
        (f"ring x {os.cpu_count()} cores", r["ring"]["verify_per_core"] * (os.cpu_count() or 2), "#d29922"),
    ]
    top = max(v for _, v, _ in bars) or 1
    width, bar_h, gap, left = 760, 22, 8, 170
    height = 40 + len(bars) * (bar_h + gap)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<text x="10" y="20" font-size="14">Requests or verifications per second (2 cores, loopback, wrk -t2)</text>']
    for i, (label, value, color) in enumerate(bars):
        y = 35 + i * (bar_h + gap)
        w = (width - left - 120) * value / top
        out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}"/>')
        out.append(f'<text x="{left + w + 6:.1f}" y="{y + 15}">{value:,.0f}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="seconds per load figure")
    parser.add_argument("--skip-1m", action="store_true", help="skip the 1,000,000-entry CRL and memory figures")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--issue-rate-guess", type=float, default=4000, help="tokens to prepare per second of load")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "bench"))
    args = parser.parse_args()
    # SIGTERM and SIGHUP end the run like Ctrl-C: the finally below stops every process
    # started and removes the temporary directories (the SoftHSM2 token's included).
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: sys.exit(128 + signum))
    bench = Bench(args)
    started = time.time()
    try:
        bench.setup_paypki()
        bench.setup_softhsm()
        bench.setup_postgres()
        bench.bench_floor()
        bench.bench_ring()
        bench.bench_ocsp()
        bench.bench_verify()
        bench.bench_issuance()
        bench.bench_postgres()
        bench.bench_crl(100_000)
        bench.bench_footprint(100_000)
        if not args.skip_1m:
            data = bench.bench_crl(1_000_000)
            bench.bench_memory(data)
        else:
            bench.record("rss_after_load_kib", bench.rss_kib(bench.pp))
    finally:
        bench.stop_postgres()
        bench.cleanup()
    r = bench.results
    r["meta"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "openssl": run(["openssl", "version"]).stdout.decode().strip(),
        "cfssl": run(["cfssl", "version"]).stdout.decode().split("\n")[0].strip(),
        "wrk": run(["wrk", "--version"], check=False).stdout.decode().split("\n")[0].strip(),
        "paypki": run([PAYPKI, "--version"]).stdout.decode().strip(),
        "softhsm2": "SoftHSM " + run(["softhsm2-util", "--version"]).stdout.decode().strip(),
        "seconds_per_figure": args.seconds,
        "total_seconds": round(time.time() - started),
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(r, f, indent=2)
    svg_chart(r, os.path.join(args.out, "throughput.svg"))
    print(table(r, args.seconds))
    print(f"\n{r['meta']['date']}, {r['meta']['cpus']} × {r['meta']['cpu']}; {r['meta']['openssl']}; cfssl {r['meta']['cfssl']}; "
          f"{r['meta']['wrk']}; {r['meta']['softhsm2']}; {r['meta']['paypki']}; {args.seconds} s per figure; whole run {r['meta']['total_seconds']} s")


if __name__ == "__main__":
    main()
