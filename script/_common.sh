# script/_common.sh — shared by script/server and script/test (sourced, not run).
#
# Installs missing Debian packages (apt-get update at most once per run),
# regenerates the build system when needed, configures and builds a build
# tree.  Idempotent: a second run does only what changed.

VELLUM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build and run-time dependencies (DESIGN.md §9).
VELLUM_BUILD_PKGS="build-essential autoconf automake libtool pkg-config
  libxapian-dev libgmime-3.0-dev libzstd-dev libsodium-dev libmicrohttpd-dev
  libgnutls28-dev libsqlite3-dev libarchive-dev libjansson-dev libqrencode-dev
  poppler-utils pst-utils"
# What the tests drive: real clients, a real Postfix, a real browser, fuzzers.
VELLUM_TEST_PKGS="swaks postfix python3 curl gnutls-bin chromium zstd
  clang libclang-rt-14-dev"

vl_log() { printf '==> %s\n' "$*" >&2; }
vl_die() { printf 'script: %s\n' "$*" >&2; exit 1; }

vl_apt_updated=
vl_missing_pkgs() {
  local p missing=
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
  done
  printf '%s' "$missing"
}

vl_install_pkgs() {
  local missing
  missing=$(vl_missing_pkgs "$@")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    vl_die "missing Debian packages:$missing (run as root, or apt-get install them)"
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks how to configure itself; the tests run their own instance.
  if printf '%s' "$missing" | grep -qw postfix; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  fi
  if [ -z "$vl_apt_updated" ]; then
    vl_log "apt-get update"
    apt-get update -q >/dev/null || vl_die "apt-get update failed"
    vl_apt_updated=1
  fi
  vl_log "installing:$missing"
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >/dev/null ||
    vl_die "apt-get install failed for:$missing"
}

# node and npm: those on PATH, else Debian's.
vl_ensure_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    vl_install_pkgs nodejs npm
  fi
}

# Regenerate configure when it is missing or older than its inputs.
vl_autoreconf() {
  local f need=
  [ -x "$VELLUM_ROOT/configure" ] || need=1
  if [ -z "$need" ]; then
    for f in configure.ac Makefile.am $(cd "$VELLUM_ROOT" && ls ./*/*.mk ./*/*/*.mk 2>/dev/null); do
      [ "$VELLUM_ROOT/$f" -nt "$VELLUM_ROOT/configure" ] && need=1
      [ "$VELLUM_ROOT/$f" -nt "$VELLUM_ROOT/Makefile.in" ] && need=1
    done
  fi
  if [ -n "$need" ]; then
    vl_log "autoreconf -fi"
    (cd "$VELLUM_ROOT" && autoreconf -fi >/dev/null 2>&1) || {
      (cd "$VELLUM_ROOT" && autoreconf -fi)
      vl_die "autoreconf failed"
    }
  fi
}

# vl_build DIR CONFIGURE-FLAGS...: configure DIR when its flags changed, then make.
vl_build() {
  local dir=$1; shift
  local flags="$*"
  mkdir -p "$VELLUM_ROOT/$dir"
  if [ ! -f "$VELLUM_ROOT/$dir/Makefile" ] ||
     [ "$(cat "$VELLUM_ROOT/$dir/.configure-flags" 2>/dev/null)" != "$flags" ] ||
     [ "$VELLUM_ROOT/configure" -nt "$VELLUM_ROOT/$dir/Makefile" ]; then
    vl_log "configure ($dir) $flags"
    (cd "$VELLUM_ROOT/$dir" && "$VELLUM_ROOT/configure" $flags >configure.out 2>&1) || {
      tail -20 "$VELLUM_ROOT/$dir/configure.out" >&2
      return 1
    }
    printf '%s' "$flags" >"$VELLUM_ROOT/$dir/.configure-flags"
  fi
  vl_log "make ($dir)"
  make -C "$VELLUM_ROOT/$dir" -j"$(nproc)" >"$VELLUM_ROOT/$dir/make.out" 2>&1 || {
    grep -E 'error|Error' "$VELLUM_ROOT/$dir/make.out" | head -40 >&2
    tail -20 "$VELLUM_ROOT/$dir/make.out" >&2
    return 1
  }
}
