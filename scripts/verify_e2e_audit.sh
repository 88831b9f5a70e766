#!/usr/bin/env bash
# End-to-end check of the planner's side channels: one POST /plan, then the X-Trace-ID it
# returns must appear in the notifier's output and in the audit log.
#
#   bash scripts/verify_e2e_audit.sh                 # against `docker compose up`
#   bash scripts/verify_e2e_audit.sh --bare-metal    # against scripts/run_all_dev.py
#   E2E_MODE=bare-metal bash scripts/verify_e2e_audit.sh
#
# Variables: AGENT_URL (default http://localhost:8585), PAGI_API_KEY (sent as X-API-Key
# when set), VERIFY_TIMEOUT_SECONDS (default 15). Bare metal: PAGI_AUDIT_DB_PATH (default
# ./pagi_audit.db), NOTIFIER_LOG (default logs/notifier.log). Compose: COMPOSE (default
# "docker compose", else "docker-compose"), AUDIT_DB_IN_CONTAINER (default
# /data/audit/pagi_audit.db).
set -uo pipefail

mode="${E2E_MODE:-compose}"
for arg in "$@"; do
  case "$arg" in
    --bare-metal) mode="bare-metal" ;;
    --compose) mode="compose" ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (use --bare-metal or --compose)" >&2; exit 2 ;;
  esac
done
case "$mode" in
  compose|bare-metal) ;;
  *) echo "E2E_MODE must be compose or bare-metal (got '$mode')" >&2; exit 2 ;;
esac

agent_url="${AGENT_URL:-http://localhost:8585}"
timeout="${VERIFY_TIMEOUT_SECONDS:-15}"
audit_db="${PAGI_AUDIT_DB_PATH:-./pagi_audit.db}"
notifier_log="${NOTIFIER_LOG:-logs/notifier.log}"
container_db="${AUDIT_DB_IN_CONTAINER:-/data/audit/pagi_audit.db}"
failures=0

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

compose() {
  if [ -n "${COMPOSE:-}" ]; then
    # shellcheck disable=SC2086
    $COMPOSE "$@"
  elif docker compose version >/dev/null 2>&1; then
    docker compose "$@"
  else
    docker-compose "$@"
  fi
}

# Compose mode: the stack must exist before its logs and audit volume can tell anything, so
# compose's own answer is reported instead of a missing trace further down.
check_compose_stack() {
  local errors running missing=()
  errors=$(mktemp)
  if ! running=$(compose ps --services --filter status=running 2>"$errors"); then
    fail "cannot list the compose stack: $(tail -n 2 "$errors" | head -c 500 | tr -s ' \n' ' ')"
    rm -f "$errors"
    echo "RESULT: FAIL"
    exit 1
  fi
  rm -f "$errors"
  if [ -z "$running" ]; then
    fail "no such compose stack: '${COMPOSE:-docker compose} ps' lists no running service" \
      "here ($(pwd)); start it with 'docker compose up -d', or point COMPOSE (e.g." \
      "\"docker compose -p NAME\") or COMPOSE_PROJECT_NAME at the stack you started"
    echo "RESULT: FAIL"
    exit 1
  fi
  for needed in agent-planner notification-service audit-inspector; do
    grep -qx "$needed" <<<"$running" || missing+=("$needed")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    fail "the compose stack is up but not running: ${missing[*]} (see '${COMPOSE:-docker compose} ps -a')"
    echo "RESULT: FAIL"
    exit 1
  fi
  pass "compose stack is running ($(wc -l <<<"$running") services)"
}

# Print the audit rows (event_type per line) recorded for trace id $1.
audit_events() {
  local sql="SELECT event_type FROM audit_log WHERE trace_id = '$1' ORDER BY id;"
  if [ "$mode" = "compose" ]; then
    compose exec -T audit-inspector sqlite3 "$container_db" "$sql" 2>/dev/null
  elif [ ! -f "$audit_db" ]; then
    return 1
  elif command -v sqlite3 >/dev/null; then
    sqlite3 "file:$audit_db?mode=ro" "$sql" 2>/dev/null
  else
    "${PYTHON:-python3}" - "$audit_db" "$1" <<'PY' 2>/dev/null
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for (event,) in db.execute("SELECT event_type FROM audit_log WHERE trace_id = ? ORDER BY id", (sys.argv[2],)):
    print(event)
PY
  fi
}

notifier_output() {
  if [ "$mode" = "compose" ]; then
    compose logs --no-color notification-service 2>/dev/null
  else
    cat "$notifier_log" 2>/dev/null
  fi
}

# Run "$@" until it succeeds or the timeout passes.
poll() {
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

echo "mode: $mode; planner: $agent_url"
[ "$mode" = "compose" ] && check_compose_stack
headers=$(mktemp)
body=$(mktemp)
trap 'rm -f "$headers" "$body"' EXIT
session="e2e-verify-$(date +%s)"
auth=()
[ -n "${PAGI_API_KEY:-}" ] && auth=(-H "X-API-Key: ${PAGI_API_KEY}")

status=$(curl -s -o "$body" -D "$headers" -w '%{http_code}' --max-time 90 \
  -X POST "$agent_url/plan" -H 'Content-Type: application/json' "${auth[@]}" \
  -d "{\"prompt\":\"Generate a 3-step plan to verify the audit trail\",\"session_id\":\"$session\",\"resources\":[]}")
if [ "$status" = "200" ]; then
  pass "POST /plan answered 200"
elif [ "$status" = "000" ]; then
  fail "cannot reach the planner at $agent_url (is the stack running? set AGENT_URL otherwise)"
  echo "RESULT: FAIL"
  exit 1
else
  fail "POST /plan answered '${status}': $(head -c 300 "$body")"
  echo "RESULT: FAIL"
  exit 1
fi

trace_id=$(grep -i '^x-trace-id:' "$headers" | head -n1 | cut -d: -f2- | tr -d ' \r\n')
if [[ "$trace_id" =~ ^[A-Za-z0-9._-]+$ ]]; then
  pass "X-Trace-ID captured: $trace_id"
else
  fail "no usable X-Trace-ID header in the response (got '${trace_id}')"
  echo "RESULT: FAIL"
  exit 1
fi

notifier_has_trace() { notifier_output | grep -qF "$trace_id"; }
if poll notifier_has_trace; then
  pass "notifier reported trace $trace_id ($(notifier_output | grep -cF "$trace_id") lines)"
else
  where="$notifier_log"; [ "$mode" = "compose" ] && where="notification-service logs"
  fail "trace $trace_id not found in $where within ${timeout}s"
fi

audit_has_trace() { [ -n "$(audit_events "$trace_id")" ]; }
if poll audit_has_trace; then
  events=$(audit_events "$trace_id" | paste -sd, -)
  pass "audit log has rows for trace $trace_id: $events"
  for needed in PLAN_START PLAN_END; do
    case ",$events," in
      *",$needed,"*) pass "audit log has $needed" ;;
      *) fail "audit log lacks $needed for trace $trace_id" ;;
    esac
  done
else
  where="$audit_db"; [ "$mode" = "compose" ] && where="audit-inspector:$container_db"
  fail "no audit rows for trace $trace_id in $where within ${timeout}s"
fi

if [ "$failures" -eq 0 ]; then
  echo "RESULT: PASS"
else
  echo "RESULT: FAIL ($failures checks failed)"
  exit 1
fi
