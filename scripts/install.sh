#!/bin/sh
# Puts tsnet and tsnet-conformance on PATH for every user, from this checkout:
#   PREFIX/bin/tsnet                                    the native launcher, configured for this checkout
#   PREFIX/bin/tsnet-conformance                        a two-line wrapper: node on the suite's bundle
#   PREFIX/share/bash-completion/completions/tsnet      `tsnet completion bash`
#   PREFIX/share/zsh/site-functions/_tsnet              `tsnet completion zsh`
# Builds first (npm ci, npm run build) when a build output is missing. Idempotent: running it again
# replaces the same files (each atomically). --uninstall removes exactly these files, and only
# when they are tsnet's. The checkout stays where it is: the installed launcher runs its bundles,
# so `git pull && npm run build` updates the installed tsnet too.
#
# usage: scripts/install.sh [--prefix DIR] [--uninstall]     (PREFIX defaults to /usr/local)
set -eu

prefix=/usr/local
uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument: $1 (usage: scripts/install.sh [--prefix DIR] [--uninstall])" >&2; exit 2 ;;
  esac
done
case "$prefix" in
  /*) ;;
  *) echo "install.sh: --prefix must be an absolute path: $prefix" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd -P)
bin=$prefix/bin
bash_dir=$prefix/share/bash-completion/completions
zsh_dir=$prefix/share/zsh/site-functions
MARK='installed by tsnet scripts/install.sh'

# Whether FILE is one this script installed (so --uninstall and reinstalls never clobber others').
ours() {
  [ -f "$1" ] || return 1
  case "$1" in
    */bin/tsnet) grep -q '@@TSNET-LAUNCHER-CONFIG@@' "$1" ;;
    *) grep -q "$MARK" "$1" ;;
  esac
}

# Writes stdin to DEST atomically (temp file in the same dir, then rename), mode 0755 or 0644.
put() {
  dest=$1 mode=$2
  if [ -e "$dest" ] && ! ours "$dest"; then
    echo "install.sh: $dest exists and is not tsnet's: remove it first" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$dest")"
  tmp=$(dirname "$dest")/.$(basename "$dest").$$.tmp
  cat >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dest"
  echo "  $dest"
}

if [ "$uninstall" = 1 ]; then
  for f in "$bin/tsnet" "$bin/tsnet-conformance" "$bash_dir/tsnet" "$zsh_dir/_tsnet"; do
    if ours "$f"; then rm -f "$f" && echo "  removed $f"; elif [ -e "$f" ]; then echo "  kept $f (not tsnet's)"; fi
  done
  exit 0
fi

cd "$root"
if [ ! -d node_modules ]; then
  echo "install.sh: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
for out in native/build/bin/tsnet core/dist/bundle/tsnet.mjs worker/dist/worker.mjs conformance/dist/cli.mjs; do
  if [ ! -f "$out" ]; then
    echo "install.sh: npm run build ($out is missing)" >&2
    npm run build >&2
    break
  fi
done

# The Node the build configured the launcher with (the one `npm run build` ran under).
node=$(node -p process.execPath)
echo "installing tsnet from $root into $prefix:"
put "$bin/tsnet" 0755 <native/build/bin/tsnet
put "$bin/tsnet-conformance" 0755 <<EOF
#!/bin/sh
# tsnet-conformance: the CNI conformance suite ($MARK from $root)
exec '$node' '$root/conformance/dist/cli.mjs' "\$@"
EOF
# Completion scripts, printed by the launcher just installed (the direct path: no worker started).
{ echo "# $MARK"; TSNET_WORKER=0 "$bin/tsnet" completion bash; } | put "$bash_dir/tsnet" 0644
{ TSNET_WORKER=0 "$bin/tsnet" completion zsh; echo "# $MARK"; } | put "$zsh_dir/_tsnet" 0644

# Every user runs the checkout's bundles: say so when some cannot read them.
d=$root
while [ "$d" != / ]; do
  if [ "$(stat -c %A "$d" | cut -c10)" != x ]; then
    echo "install.sh: warning: $d is not searchable by other users: only root can run tsnet from $root" >&2
    break
  fi
  d=$(dirname "$d")
done
echo "done: $(TSNET_WORKER=0 "$bin/tsnet" --version | head -n 1) (open a new shell, or run hash -r, to find it on PATH)"
