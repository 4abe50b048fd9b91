# Env files of the local stack (.state/env/<name>.env): KEY=VALUE lines, unquoted, mode 0600, written under
# the env folder's lock. Source it; it has no side effects. Needs ENV_DIR.
# shellcheck shell=bash

# write_env NAME KEY VALUE: set KEY in $ENV_DIR/NAME.env (replacing an existing KEY line).
# Values are written unquoted (KEY=VALUE), the format read by dotenv, `node --env-file` and `docker --env-file`.
write_env() {
  local file="$ENV_DIR/$1.env" key="$2" value="$3"
  case "$value" in *$'\n'*) printf 'write_env %s %s: value contains a newline\n' "$1" "$key" >&2; return 1 ;; esac
  [ -d "$ENV_DIR" ] || { mkdir -p "$(dirname "$ENV_DIR")" && mkdir -m 700 "$ENV_DIR"; }
  grep -qxF "$key=$value" "$file" 2>/dev/null && return 0   # already set: skip the lock
  (
    umask 077
    flock 9
    touch "$file"
    chmod 600 "$file"
    grep -qxF "$key=$value" "$file" && exit 0
    KEY="$key" VALUE="$value" awk 'BEGIN { k = ENVIRON["KEY"] "="; line = k ENVIRON["VALUE"] }
      index($0, k) == 1 { if (!done) print line; done = 1; next } { print }
      END { if (!done) print line }' "$file" >"$file.tmp"
    mv "$file.tmp" "$file"
  ) 9>"$ENV_DIR/.lock"
}

# write_env_default NAME KEY VALUE: like write_env, but keeps a value another script already wrote.
write_env_default() {
  grep -q "^$2=" "$ENV_DIR/$1.env" 2>/dev/null || write_env "$@"
}

# read_env NAME KEY: prints the value (empty if unset).
read_env() { sed -n "s/^$2=//p" "$ENV_DIR/$1.env" 2>/dev/null | tail -n 1; }
