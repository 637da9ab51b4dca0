#!/usr/bin/env bash
# slurm_local.sh -- bring up / tear down a REAL single-node SLURM cluster on this machine,
# for pcbench's cluster tests (jobs submitted through submitit).
#
# Usage:   tests/cluster/slurm_local.sh up|down|status|selftest
#
#   up        install slurm-wlm/munge/slurmdbd/mariadb-server if missing (Debian, as root),
#             generate the configuration under the state directory, start munged, mariadbd,
#             slurmdbd, slurmctld and slurmd, and wait until the node is idle. Idempotent.
#             Prints on STDOUT the line callers need:   export SLURM_CONF=<state>/etc/slurm.conf
#             (so `eval "$(tests/cluster/slurm_local.sh up)"` works); progress goes to stderr.
#   down      cancel remaining jobs, stop the daemons started by `up` (by pid file), restore
#             /etc/slurm/slurm.conf. Idempotent. Keeps the state directory (logs, database).
#   status    exit 0 iff `sinfo` answers and the node is idle/mixed/allocated (and, with
#             accounting on, `sacct` answers too); non-zero otherwise.
#   selftest  sbatch --wait, a 3-task array and scancel against the running cluster.
#
# Exit status 3, with a single stderr line "slurm_local: cannot install slurm-wlm/munge: <reason>",
# means the packages are missing and cannot be installed here (not root, no apt-get, apt-get
# failed even after apt-get update): a test should skip with that reason. Other failures of `up`
# exit 1 with the reason and the tail of the daemons' logs on stderr.
#
# Why slurmdbd + MariaDB: submitit (1.5.x) learns job state ONLY from
# `sacct -o JobID,State,NodeList --parsable2 -j ID`; with AccountingStorageType=none, sacct
# exits 1 ("Slurm accounting storage is disabled") and submitit sees every job as UNKNOWN
# forever, so job.result() of a cancelled/killed job would hang. JobComp plugins do not help
# (sacct reads them only with -c). PCBENCH_SLURM_ACCOUNTING=none skips the database.
#
# SLURM_CONF: commands read /etc/slurm/slurm.conf unless SLURM_CONF is set. `up` exports nothing
# by itself (it cannot), so it (a) prints the export line and (b) by default also symlinks
# /etc/slurm/slurm.conf -> <state>/etc/slurm.conf (an existing real file is moved to
# /etc/slurm/slurm.conf.pcbench-backup and put back by `down`), so that sbatch/squeue/sacct/
# scancel work from any subprocess even without SLURM_CONF. PCBENCH_SLURM_ETC_LINK=0 disables
# the symlink (then callers MUST export SLURM_CONF).
#
# Environment (all optional):
#   PCBENCH_SLURM_DIR         state directory           (default /tmp/pcbench-slurm)
#   PCBENCH_SLURM_CTLD_PORT   slurmctld port            (default 6817)
#   PCBENCH_SLURM_SLURMD_PORT slurmd port               (default 6818)
#   PCBENCH_SLURM_DBD_PORT    slurmdbd port             (default 6819)
#   PCBENCH_SLURM_DB_PORT     mariadbd port (127.0.0.1) (default 6830)
#   PCBENCH_SLURM_ACCOUNTING  slurmdbd | none           (default slurmdbd)
#   PCBENCH_SLURM_ETC_LINK    1 | 0                     (default 1, see above)
#   PCBENCH_SLURM_TIMEOUT     seconds to wait for the node to become idle (default 60)
#   PCBENCH_SLURM_SELECT_PARAMS  SelectTypeParameters  (default CR_CPU)
#
# Safety: nothing outside the state directory is deleted, except our own /etc/slurm/slurm.conf
# symlink (and putting back its backup). Only processes recorded in our pid files are signalled.

set -euo pipefail

PROG=slurm_local
STATE_DIR=${PCBENCH_SLURM_DIR:-/tmp/pcbench-slurm}
CTLD_PORT=${PCBENCH_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${PCBENCH_SLURM_SLURMD_PORT:-6818}
DBD_PORT=${PCBENCH_SLURM_DBD_PORT:-6819}
DB_PORT=${PCBENCH_SLURM_DB_PORT:-6830}
ACCOUNTING=${PCBENCH_SLURM_ACCOUNTING:-slurmdbd}
ETC_LINK=${PCBENCH_SLURM_ETC_LINK:-1}
UP_TIMEOUT=${PCBENCH_SLURM_TIMEOUT:-60}
SELECT_PARAMS=${PCBENCH_SLURM_SELECT_PARAMS:-CR_CPU}
CLUSTER=pcbench
PARTITION=debug

ETC_CONF=/etc/slurm/slurm.conf
ETC_BACKUP=/etc/slurm/slurm.conf.pcbench-backup

log() { echo "$PROG: $*" >&2; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

case "$STATE_DIR" in
    /*) ;;
    *) die "PCBENCH_SLURM_DIR must be an absolute path (got '$STATE_DIR')" ;;
esac
STATE_DIR=${STATE_DIR%/}
case "$STATE_DIR" in
    "" | / | /tmp | /etc | /usr | /var | /root | /home | /opt | /srv)
        die "refusing to use '$STATE_DIR' as state directory" ;;
esac
case "$ACCOUNTING" in slurmdbd | none) ;; *) die "PCBENCH_SLURM_ACCOUNTING must be slurmdbd or none" ;; esac

CONF_DIR=$STATE_DIR/etc
CONF=$CONF_DIR/slurm.conf
DBD_CONF=$CONF_DIR/slurmdbd.conf
MUNGE_DIR=$STATE_DIR/munge
MUNGE_KEY=$MUNGE_DIR/munge.key
MUNGE_SOCKET=$MUNGE_DIR/munge.socket
RUN_DIR=$STATE_DIR/run
LOG_DIR=$STATE_DIR/log
DB_DIR=$STATE_DIR/mysql
DB_SOCKET=$RUN_DIR/mysqld.sock
DB_PASS_FILE=$CONF_DIR/db.pass

PID_MUNGED=$RUN_DIR/munged.pid
PID_DB=$RUN_DIR/mariadbd.pid
PID_DBD=$RUN_DIR/slurmdbd.pid
PID_CTLD=$RUN_DIR/slurmctld.pid
PID_SLURMD=$RUN_DIR/slurmd.pid

NODE=$(hostname -s)
export PATH=$PATH:/usr/sbin:/sbin
export SLURM_CONF=$CONF   # for every slurm command this script runs (and slurmdbd.conf lookup)

# ------------------------------------------------------------------------------------ helpers

# pid_alive PIDFILE NAME: the pid in PIDFILE is a live process whose command name is NAME.
pid_alive() {
    local pidfile=$1 name=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(tr -dc '0-9' <"$pidfile" 2>/dev/null) || return 1
    [[ -n $pid ]] && proc_is "$pid" "$name"
}

# proc_is PID NAME: PID is a live (not zombie) process whose command name is NAME.
proc_is() {
    local comm state
    comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
    [[ $comm == "$2"* ]] || return 1
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

# stop_pid PIDFILE NAME: SIGTERM the recorded process (only if it is NAME), SIGKILL after 20 s.
# Waits on the pid itself: the daemons remove their pid file before they have finished exiting.
stop_pid() {
    local pidfile=$1 name=$2 pid i
    if ! pid_alive "$pidfile" "$name"; then
        rm -f -- "$pidfile"
        return 0
    fi
    pid=$(tr -dc '0-9' <"$pidfile")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        proc_is "$pid" "$name" || break
        sleep 0.2
    done
    if proc_is "$pid" "$name"; then
        log "$name (pid $pid) ignored SIGTERM for 20 s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 25; i++)); do
            proc_is "$pid" "$name" || break
            sleep 0.2
        done
    fi
    rm -f -- "$pidfile"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_free_port() {
    local port=$1 what=$2
    if port_busy "$port"; then
        die "port $port (for $what) is already in use by another process; set the matching PCBENCH_SLURM_*_PORT"
    fi
}

tail_logs() {
    local f
    for f in "$LOG_DIR"/munged.log "$LOG_DIR"/mariadbd.log "$LOG_DIR"/slurmdbd.log \
        "$LOG_DIR"/slurmctld.log "$LOG_DIR"/slurmd.log; do
        [[ -s $f ]] || continue
        echo "----- tail of $f -----" >&2
        tail -n 25 "$f" >&2 || true
    done
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s until it succeeds.
wait_for() {
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + secs))
    while ((SECONDS < deadline)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    log "timed out after ${secs}s waiting for $what"
    tail_logs
    exit 1
}

# ------------------------------------------------------------------------------------ install

cannot_install() {
    echo "$PROG: cannot install slurm-wlm/munge: $*" >&2
    exit 3
}

missing_commands() {
    local c missing=()
    local need=(slurmctld slurmd sbatch squeue scancel sinfo sacct munged munge unmunge)
    if [[ $ACCOUNTING == slurmdbd ]]; then
        need+=(slurmdbd sacctmgr mariadbd mariadb mariadb-install-db)
    fi
    for c in "${need[@]}"; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    echo "${missing[*]}"
}

ensure_installed() {
    local missing pkgs t0 t1 apt_log
    missing=$(missing_commands)
    [[ -z $missing ]] && return 0
    pkgs=(slurm-wlm munge)
    [[ $ACCOUNTING == slurmdbd ]] && pkgs+=(slurmdbd mariadb-server)
    # Nothing goes to stderr until the outcome is known: on failure the single stderr line is
    # the "cannot install" one (what a test shows as its skip reason).
    [[ $(id -u) -eq 0 ]] || cannot_install "not root (uid $(id -u)); install ${pkgs[*]} or run as root"
    command -v apt-get >/dev/null 2>&1 || cannot_install "apt-get not found (not a Debian-like system)"
    mkdir -p "$LOG_DIR"
    apt_log=$LOG_DIR/apt.log
    echo "missing: $missing -> installing ${pkgs[*]}" >"$apt_log"
    t0=$(date +%s.%N)
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" \
        >>"$apt_log" 2>&1; then
        echo "apt-get install failed, running apt-get update and retrying" >>"$apt_log"
        if ! DEBIAN_FRONTEND=noninteractive apt-get update >>"$apt_log" 2>&1; then
            cannot_install "apt-get update failed: $(grep -E '^(E|W):' "$apt_log" | tail -n 1 || echo "see $apt_log")"
        fi
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" \
            >>"$apt_log" 2>&1; then
            cannot_install "apt-get install failed: $(grep -E '^E:' "$apt_log" | tail -n 1 || echo "see $apt_log")"
        fi
    fi
    t1=$(date +%s.%N)
    missing=$(missing_commands)
    [[ -z $missing ]] || cannot_install "installed ${pkgs[*]} but still missing: $missing"
    log "$missing were missing: installed ${pkgs[*]} in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s (log: $apt_log)"
}

# ------------------------------------------------------------------------------------ config

write_configs() {
    local ncpu mem_mb margin real_mem
    mkdir -p "$CONF_DIR" "$MUNGE_DIR" "$RUN_DIR" "$LOG_DIR" "$STATE_DIR/state" \
        "$STATE_DIR/spool/slurmd"
    chmod 0755 "$STATE_DIR" "$CONF_DIR" "$RUN_DIR" "$LOG_DIR"
    chmod 0755 "$MUNGE_DIR"
    chmod 0700 "$STATE_DIR/state"
    ncpu=$(nproc)
    mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    margin=$((mem_mb / 10))
    ((margin < 512)) && margin=512
    real_mem=$((mem_mb - margin))
    ((real_mem < 256)) && real_mem=256

    local acct_lines
    if [[ $ACCOUNTING == slurmdbd ]]; then
        acct_lines="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$NODE
AccountingStoragePort=$DBD_PORT
# For slurmdbd connections clients take the munge socket from AccountingStoragePass,
# not from AuthInfo (sacct/sacctmgr would otherwise try /run/munge/munge.socket.2).
AccountingStoragePass=$MUNGE_SOCKET
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
    else
        acct_lines="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
    fi

    cat >"$CONF.tmp" <<EOF
# Generated by tests/cluster/slurm_local.sh -- single-node test cluster. Do not edit.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool/slurmd
SlurmctldPidFile=$PID_CTLD
SlurmdPidFile=$PID_SLURMD
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
PropagateResourceLimits=NONE
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=$SELECT_PARAMS
# short timeouts: this is a test cluster on loopback
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
TCPTimeout=5
BatchStartTimeout=10
InactiveLimit=0
KillWait=5
UnkillableStepTimeout=30
Waittime=0
MinJobAge=300
# accounting (submitit polls job state with sacct)
$acct_lines
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$ncpu RealMemory=$real_mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    mv -f "$CONF.tmp" "$CONF"
    chmod 0644 "$CONF"

    if [[ $ACCOUNTING == slurmdbd ]]; then
        if [[ ! -s $DB_PASS_FILE ]]; then
            (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DB_PASS_FILE")
        fi
        (
            umask 077
            cat >"$DBD_CONF.tmp" <<EOF
# Generated by tests/cluster/slurm_local.sh. Do not edit.
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=$NODE
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$LOG_DIR/slurmdbd.log
PidFile=$PID_DBD
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$DB_PASS_FILE")
StorageLoc=slurm_acct_db
EOF
        )
        mv -f "$DBD_CONF.tmp" "$DBD_CONF"
        chmod 0600 "$DBD_CONF"
    fi
    log "config: $CONF (node $NODE, CPUs=$ncpu, RealMemory=${real_mem}M, accounting=$ACCOUNTING)"
}

link_etc_conf() {
    [[ $ETC_LINK == 1 ]] || return 0
    if [[ $(id -u) -ne 0 ]]; then
        log "not root: not linking $ETC_CONF; callers must export SLURM_CONF"
        return 0
    fi
    mkdir -p /etc/slurm
    if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then
        return 0
    fi
    if [[ -e $ETC_CONF || -L $ETC_CONF ]]; then
        if [[ -e $ETC_BACKUP || -L $ETC_BACKUP ]]; then
            log "warning: $ETC_CONF exists and $ETC_BACKUP too; leaving both alone -- callers must export SLURM_CONF"
            return 0
        fi
        log "moving existing $ETC_CONF to $ETC_BACKUP"
        mv -- "$ETC_CONF" "$ETC_BACKUP"
    fi
    ln -s -- "$CONF" "$ETC_CONF"
    log "linked $ETC_CONF -> $CONF"
}

unlink_etc_conf() {
    if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then
        rm -f -- "$ETC_CONF"
        if [[ -e $ETC_BACKUP || -L $ETC_BACKUP ]]; then
            mv -- "$ETC_BACKUP" "$ETC_CONF"
            log "restored $ETC_CONF from $ETC_BACKUP"
        else
            log "removed our symlink $ETC_CONF"
        fi
    fi
}

# ------------------------------------------------------------------------------------ daemons

munge_ok() { munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; }

start_munged() {
    if pid_alive "$PID_MUNGED" munged && munge_ok; then return 0; fi
    stop_pid "$PID_MUNGED" munged
    if [[ ! -s $MUNGE_KEY ]]; then
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$MUNGE_KEY" --force >/dev/null 2>&1 ||
                dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
        log "created munge key $MUNGE_KEY"
    fi
    chown root:root "$MUNGE_KEY" 2>/dev/null || true
    chmod 0400 "$MUNGE_KEY"
    rm -f -- "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    local force=()
    [[ $(id -u) -eq 0 ]] && force=(--force)
    munged "${force[@]}" --key-file="$MUNGE_KEY" --socket="$MUNGE_SOCKET" \
        --pid-file="$PID_MUNGED" --log-file="$LOG_DIR/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed" >>"$LOG_DIR/munged.log" 2>&1 ||
        { tail_logs; die "munged failed to start"; }
    wait_for 15 "munged (munge -n | unmunge)" munge_ok
    log "munged up (socket $MUNGE_SOCKET), munge -n | unmunge OK"
}

db_sql() { mariadb --no-defaults -S "$DB_SOCKET" -u root --batch --skip-column-names -e "$1"; }

start_mariadb() {
    [[ $ACCOUNTING == slurmdbd ]] || return 0
    if pid_alive "$PID_DB" mariadbd && db_sql "SELECT 1" >/dev/null 2>&1; then return 0; fi
    stop_pid "$PID_DB" mariadbd
    require_free_port "$DB_PORT" mariadbd
    if [[ ! -d $DB_DIR/mysql ]]; then
        log "initialising MariaDB data directory $DB_DIR"
        mkdir -p "$DB_DIR"
        mariadb-install-db --no-defaults --datadir="$DB_DIR" --user=root \
            --auth-root-authentication-method=socket --skip-test-db \
            >"$LOG_DIR/mariadb-install-db.log" 2>&1 ||
            { tail -n 20 "$LOG_DIR/mariadb-install-db.log" >&2; die "mariadb-install-db failed"; }
    fi
    rm -f -- "$DB_SOCKET"
    # setsid + nohup: fully detached, survives the caller's session.
    setsid nohup mariadbd --no-defaults --user=root --datadir="$DB_DIR" --socket="$DB_SOCKET" \
        --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
        --pid-file="$PID_DB" --log-error="$LOG_DIR/mariadbd.log" \
        --innodb-buffer-pool-size=64M --innodb-log-file-size=32M --innodb-lock-wait-timeout=900 \
        --max-connections=50 --performance-schema=OFF \
        </dev/null >>"$LOG_DIR/mariadbd.log" 2>&1 &
    wait_for 60 "mariadbd" db_sql "SELECT 1"
    local pass
    pass=$(cat "$DB_PASS_FILE")
    db_sql "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
        ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        FLUSH PRIVILEGES;" || die "could not create the slurm database user"
    log "mariadbd up (127.0.0.1:$DB_PORT, socket $DB_SOCKET)"
}

sacctmgr_ok() { sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1; }

start_slurmdbd() {
    [[ $ACCOUNTING == slurmdbd ]] || return 0
    if pid_alive "$PID_DBD" slurmdbd && sacctmgr_ok; then return 0; fi
    stop_pid "$PID_DBD" slurmdbd
    require_free_port "$DBD_PORT" slurmdbd
    # slurmdbd finds slurmdbd.conf next to $SLURM_CONF; it daemonises itself.
    slurmdbd >>"$LOG_DIR/slurmdbd.log" 2>&1 || { tail_logs; die "slurmdbd failed to start"; }
    wait_for 60 "slurmdbd (sacctmgr list cluster)" sacctmgr_ok
    if ! sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster $CLUSTER failed"
    fi
    log "slurmdbd up (port $DBD_PORT), cluster '$CLUSTER' registered"
}

ctld_ok() { scontrol ping 2>/dev/null | grep -q "is UP"; }

start_slurmctld() {
    if pid_alive "$PID_CTLD" slurmctld && ctld_ok; then return 0; fi
    stop_pid "$PID_CTLD" slurmctld
    require_free_port "$CTLD_PORT" slurmctld
    slurmctld -f "$CONF" >>"$LOG_DIR/slurmctld.log" 2>&1 || { tail_logs; die "slurmctld failed to start"; }
    wait_for 60 "slurmctld (scontrol ping)" ctld_ok
    log "slurmctld up (port $CTLD_PORT)"
}

start_slurmd() {
    if pid_alive "$PID_SLURMD" slurmd; then return 0; fi
    stop_pid "$PID_SLURMD" slurmd
    require_free_port "$SLURMD_PORT" slurmd
    slurmd -f "$CONF" -N "$NODE" >>"$LOG_DIR/slurmd.log" 2>&1 || { tail_logs; die "slurmd failed to start"; }
    log "slurmd started (port $SLURMD_PORT)"
}

node_state() { timeout 30 sinfo -h -N -n "$NODE" -p "$PARTITION" -o %T 2>/dev/null | head -n 1; }

node_usable() {
    local st
    st=$(node_state) || return 1
    case "$st" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac
}

sacct_ok() { timeout 30 sacct -n -X -P -o JobID -j 1 >/dev/null 2>&1; }

cluster_ok() {
    node_usable || return 1
    [[ $ACCOUNTING == none ]] || sacct_ok
}

# all daemons of ours are running (sinfo may report a dead slurmd as idle for SlurmdTimeout)
daemons_alive() {
    pid_alive "$PID_MUNGED" munged && pid_alive "$PID_CTLD" slurmctld && pid_alive "$PID_SLURMD" slurmd || return 1
    [[ $ACCOUNTING == none ]] || { pid_alive "$PID_DB" mariadbd && pid_alive "$PID_DBD" slurmdbd; }
}

wait_node_idle() {
    local i=0 st="" deadline=$((SECONDS + UP_TIMEOUT))
    while ((SECONDS < deadline)); do
        i=$((i + 1))
        st=$(node_state || true)
        case "$st" in
            idle | mixed | allocated) return 0 ;;
            down* | drain*)
                # ReturnToService=2 normally resumes it; nudge it once in a while.
                if ((i % 10 == 5)); then
                    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
                fi
                ;;
        esac
        sleep 0.5
    done
    log "timed out after ${UP_TIMEOUT}s waiting for node $NODE to become idle (last state: '${st:-no answer}')"
    scontrol show node "$NODE" 2>&1 | sed 's/^/    /' >&2 || true
    tail_logs
    exit 1
}

print_exports() {
    echo "export SLURM_CONF=$CONF"
}

# ------------------------------------------------------------------------------------ commands

cmd_up() {
    local t0 t1
    t0=$(date +%s.%N)
    ensure_installed
    if [[ -s $CONF ]] && daemons_alive && cluster_ok; then
        log "cluster already up and answering (node $NODE: $(node_state))"
        link_etc_conf
        print_exports
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "up must run as root (SlurmUser=root, munged, slurmd)"
    # Regenerate the configuration only when no slurm daemon of ours is running.
    if ! pid_alive "$PID_CTLD" slurmctld && ! pid_alive "$PID_SLURMD" slurmd &&
        ! pid_alive "$PID_DBD" slurmdbd; then
        write_configs
    fi
    link_etc_conf
    start_munged
    start_mariadb
    start_slurmdbd
    start_slurmctld
    start_slurmd
    wait_node_idle
    if [[ $ACCOUNTING == slurmdbd ]]; then
        wait_for 30 "sacct to answer" sacct_ok
    fi
    t1=$(date +%s.%N)
    log "cluster up in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s: node $NODE $(node_state), partition $PARTITION"
    [[ $ETC_LINK == 1 ]] || log "callers must export SLURM_CONF (PCBENCH_SLURM_ETC_LINK=0)"
    print_exports
}

cmd_down() {
    if [[ -s $CONF ]] && ctld_ok; then
        local ids
        ids=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
        if [[ -n ${ids// /} ]]; then
            log "cancelling remaining jobs: $ids"
            # shellcheck disable=SC2086
            scancel $ids >/dev/null 2>&1 || true
            local i
            for ((i = 0; i < 30; i++)); do
                [[ -z $(squeue -h -o %A -t running,completing 2>/dev/null || true) ]] && break
                sleep 0.5
            done
        fi
    fi
    stop_pid "$PID_SLURMD" slurmd
    stop_pid "$PID_CTLD" slurmctld
    stop_pid "$PID_DBD" slurmdbd
    stop_pid "$PID_DB" mariadbd
    stop_pid "$PID_MUNGED" munged
    unlink_etc_conf
    log "cluster down (state kept in $STATE_DIR)"
}

cmd_status() {
    local rc=0 st
    if ! command -v sinfo >/dev/null 2>&1; then
        log "sinfo not installed"
        return 2
    fi
    if [[ ! -s $CONF ]]; then
        log "no configuration at $CONF (never brought up?)"
        return 1
    fi
    if ! pid_alive "$PID_CTLD" slurmctld; then
        log "slurmctld of $STATE_DIR is not running (cluster down)"
        return 1
    fi
    st=$(node_state || true)
    if node_usable; then
        log "node $NODE: $st"
    else
        log "node $NODE: ${st:-sinfo does not answer}"
        rc=1
    fi
    if [[ $ACCOUNTING == slurmdbd ]]; then
        if sacct_ok; then log "sacct: answering"; else log "sacct: NOT answering"; rc=1; fi
    fi
    local p n
    for p in munged:"$PID_MUNGED" mariadbd:"$PID_DB" slurmdbd:"$PID_DBD" slurmctld:"$PID_CTLD" slurmd:"$PID_SLURMD"; do
        n=${p%%:*}
        if pid_alive "${p#*:}" "$n"; then log "  $n: running (pid $(cat "${p#*:}"))"; else log "  $n: not running"; fi
    done
    return $rc
}

cmd_selftest() {
    cluster_ok || die "cluster is not up"
    local d=$STATE_DIR/selftest t0 t1 out jid st i
    mkdir -p "$d"
    rm -f -- "$d"/*.out
    t0=$(date +%s.%N)
    sbatch --wait -p "$PARTITION" -o "$d/single-%j.out" --wrap 'echo ok' >/dev/null
    out=$(cat "$d"/single-*.out)
    [[ $out == ok ]] || die "sbatch --wait --wrap 'echo ok' produced '$out'"
    log "sbatch --wait: ok"
    # shellcheck disable=SC2016  # expanded by the job's shell
    sbatch --wait -p "$PARTITION" --array=0-2 -o "$d/array-%A_%a.out" \
        --wrap 'echo "task $SLURM_ARRAY_TASK_ID"' >/dev/null
    out=$(cat "$d"/array-*.out | sort | tr '\n' ' ')
    [[ $out == "task 0 task 1 task 2 " ]] || die "array produced '$out'"
    log "sbatch --array=0-2 --wait: $out"
    jid=$(sbatch --parsable -p "$PARTITION" -o /dev/null --wrap 'sleep 300')
    jid=${jid%%;*}
    for ((i = 0; i < 40; i++)); do
        [[ $(squeue -h -j "$jid" -o %T 2>/dev/null) == RUNNING ]] && break
        sleep 0.25
    done
    scancel "$jid"
    for ((i = 0; i < 60; i++)); do
        st=$(squeue -h -j "$jid" -o %T 2>/dev/null || true)
        [[ -z $st ]] && break
        sleep 0.5
    done
    [[ -z $st ]] || die "job $jid still '$st' after scancel"
    if [[ $ACCOUNTING == slurmdbd ]]; then
        for ((i = 0; i < 20; i++)); do
            st=$(sacct -n -X -P -o State -j "$jid" 2>/dev/null | head -n 1)
            [[ $st == CANCELLED* ]] && break
            sleep 0.5
        done
        [[ $st == CANCELLED* ]] || die "sacct shows job $jid as '$st', expected CANCELLED"
        log "scancel: ok (sacct: $st)"
    else
        log "scancel: ok"
    fi
    t1=$(date +%s.%N)
    log "selftest passed in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s"
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    selftest) cmd_selftest ;;
    *)
        echo "usage: $0 up|down|status|selftest" >&2
        exit 2
        ;;
esac
