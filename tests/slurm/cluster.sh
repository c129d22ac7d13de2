#!/usr/bin/env bash
# A one-node Slurm cluster on 127.0.0.1 for the workflow's cluster test.
#   cluster.sh start DIR   install slurm-wlm + munge if missing, write the config, keep
#                          state and logs in DIR, start munged, slurmctld and slurmd
#   cluster.sh stop DIR    stop the daemons by the PIDs recorded in DIR
# No systemd, no cgroups: process tracking by /proc, no task plugin; no slurmdbd, so
# jobs are followed with squeue (MinJobAge keeps finished jobs visible). The config
# goes to the default /etc/slurm (the executor plugin's job steps drop SLURM_CONF, as
# on real clusters, where the config sits there); an existing one is refused. The node
# advertises one GPU backed by /dev/null: Slurm schedules it and sets
# CUDA_VISIBLE_DEVICES, which is what the test checks.
set -euo pipefail
action=$1
dir=$(realpath -m "$2")

start() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  fi
  mkdir -p "$dir"/{state,spool,log,munge}
  chmod 700 "$dir/munge"
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))

  # munge: a private key and socket, so a system munged (if any) is left alone.
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed"

  if [ -e /etc/slurm/slurm.conf ] && ! grep -q "^# lrrsa test cluster" /etc/slurm/slurm.conf; then
    echo "/etc/slurm/slurm.conf exists and is not ours: refusing to replace it" >&2
    exit 1
  fi
  mkdir -p /etc/slurm
  cat > /etc/slurm/slurm.conf <<CONF
# lrrsa test cluster (tests/slurm/cluster.sh); removed by 'cluster.sh stop'
ClusterName=lrrsa-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=46817
SlurmdPort=46818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=3600
ReturnToService=2
SchedulerParameters=sched_interval=1
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  echo "NodeName=$host Name=gpu File=/dev/null" > /etc/slurm/gres.conf

  slurmctld
  slurmd
  for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
      return 0
    fi
    sleep 1
  done
  echo "Slurm did not come up; logs in $dir/log" >&2
  sinfo >&2 || true
  exit 1
}

stop() {
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  if grep -qs "^# lrrsa test cluster" /etc/slurm/slurm.conf; then
    # Job steps of this cluster that outlived slurmd (e.g. a test killed mid-job).
    pkill -KILL -x slurmstepd 2>/dev/null || true
    rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf
  fi
}

case $action in
  start) start ;;
  stop) stop ;;
  *) echo "usage: cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
