# Which Debian mirror this machine uses, read at run time from its apt sources (no host is written into the
# repository). Source it; it has no side effects.
# shellcheck shell=bash

APT_SOURCES="${APT_SOURCES:-/etc/apt/sources.list.d/debian.sources}"

# debian_mirror SUITE: the first URI of the apt source stanza that serves SUITE itself (not -updates/-security).
debian_mirror() {
  local suite="$1"
  [ -r "$APT_SOURCES" ] || { echo "$APT_SOURCES not found; cannot tell which Debian mirror to use" >&2; return 1; }
  awk -v suite="$suite" '
    BEGIN { RS = ""; FS = "\n" }
    {
      uri = ""; ok = 0
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uri = u[2] }
        if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
      }
      if (ok && uri != "") { print uri; exit }
    }' "$APT_SOURCES"
}
