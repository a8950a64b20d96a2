#!/usr/bin/env bash
# A toy sweep through a real Slurm job array, merged by `relax report`, must equal the
# one-machine `relax toy` number for number (docs/cluster.md).
#
# usage: scripts/test-slurm.sh [path/to/relax]   (default: a release build of this checkout)
#
# Starts a private single-node Slurm on this machine (Debian's slurmctld, slurmd and munge,
# the recipe of docs/cluster.md): controller and node daemon on localhost, run as root,
# with their configuration, state, logs, munge socket and key all in a temporary directory
# and their own ports, so /etc/slurm and any Slurm or munge already running are not touched.
# The daemons it started are stopped by pid on every exit (trap). Needs root and the Debian
# packages (scripts/ensure-deps.sh installs them); otherwise it says so and skips.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
if [ "$(id -u)" != 0 ] || ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
  || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  echo "test-slurm: SKIPPED (needs root and slurmctld, slurmd, slurm-client, munge)"
  exit 0
fi
if [ $# -ge 1 ]; then
  BIN="$(realpath "$1")"
else
  cargo build --release -p host --quiet
  BIN="$(realpath "${CARGO_TARGET_DIR:-target}/release/relax")"
fi

T="$(mktemp -d /tmp/relax-slurm.XXXXXX)"
chmod 755 "$T"
cleanup() {
  local rc=$?
  for f in "$T"/slurmd.pid "$T"/slurmctld.pid "$T"/munged.pid; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.5
  for f in "$T"/slurmd.pid "$T"/slurmctld.pid "$T"/munged.pid; do
    [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
  done
  if [ $rc != 0 ]; then
    echo "test-slurm: FAILED; daemon logs:"
    tail -n 20 "$T"/*.log 2>/dev/null || true
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT INT TERM

# munge: a private key and socket, run as the munge user (as the Debian service does).
mkdir -p "$T/munge"
dd if=/dev/urandom bs=1 count=1024 of="$T/munge/munge.key" status=none
chown -R munge:munge "$T/munge"
chmod 755 "$T/munge"
chmod 400 "$T/munge/munge.key"
su -s /bin/sh munge -c "/usr/sbin/munged --key-file=$T/munge/munge.key \
  --socket=$T/munge/munge.sock --pid-file=$T/munge/munged.pid \
  --log-file=$T/munge/munged.log --seed-file=$T/munge/munged.seed"
cp "$T/munge/munged.pid" "$T/munged.pid"

# Ports away from the default 6817/6818, so a Slurm already running here is not disturbed.
port=$((20000 + RANDOM % 20000))
H="$(hostname -s)"
mkdir -p "$T/ctld" "$T/spool"
cat >"$T/slurm.conf" <<CONF
ClusterName=relaxtest
SlurmctldHost=$H
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.sock
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$T/ctld
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ReturnToService=2
NodeName=$H CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$T/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
deadline=$((SECONDS + 30))
until sinfo -h -o %T 2>/dev/null | grep -q idle; do
  [ $SECONDS -lt $deadline ] || { echo "test-slurm: the node did not become idle in 30 s"; exit 1; }
  sleep 0.5
done
echo "test-slurm: single-node Slurm up in $((SECONDS - start)) s"

# The sweep: 2 methods x 2 seeds of the toy, one array task per run.
SWEEP=(toy --steps 300 --seeds 2 --estimators reinforce,relax --var-samples 200)
n="$("$BIN" "${SWEEP[@]}" --list-runs | wc -l)"
[ "$n" = 4 ] || { echo "test-slurm: --list-runs gave $n runs, not 4"; exit 1; }
cat >"$T/job.sh" <<JOB
#!/bin/sh
exec "$BIN" --out "$T/array" ${SWEEP[*]} --run-index "\$SLURM_ARRAY_TASK_ID"
JOB
job="$(sbatch --parsable --array=0-$((n - 1)) -o "$T/task-%a.txt" -D "$T" "$T/job.sh")"
job="${job%%;*}"
deadline=$((SECONDS + 90))
while [ -n "$(squeue -h -j "$job" 2>/dev/null)" ]; do
  [ $SECONDS -lt $deadline ] || { echo "test-slurm: job array $job not done in 90 s"; squeue; exit 1; }
  sleep 0.5
done
for i in $(seq 0 $((n - 1))); do
  grep -q '^wrote .*runs/.*\.json$' "$T/task-$i.txt" \
    || { echo "test-slurm: array task $i wrote no run:"; cat "$T/task-$i.txt"; exit 1; }
done
echo "test-slurm: job array $job ($n tasks) done in $((SECONDS - start)) s"

"$BIN" report "$T/array/toy" >/dev/null
"$BIN" --out "$T/one" "${SWEEP[@]}" >/dev/null
cmp "$T/one/toy/curves.csv" "$T/array/toy/curves.csv"
python3 scripts/normalize-results.py "$T/one" "$T/one-n" >/dev/null
rm -rf "$T/array/toy/runs"
python3 scripts/normalize-results.py "$T/array" "$T/array-n" >/dev/null
diff -r "$T/one-n" "$T/array-n"
echo "test-slurm: OK, merged array = one machine (curves.csv, summary.json) in $((SECONDS - start)) s"
