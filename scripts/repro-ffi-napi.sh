#!/usr/bin/env bash
# Reproduces the ffi-napi evaluation recorded in README "Dependencies", in a throwaway dir.
# Needs the npm registry; touches nothing in this repository.
set -u
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" && npm init -y >/dev/null 2>&1
echo "== 1. npm install ffi-napi@4.0.3 (install scripts enabled, as a normal install)"
if npm install ffi-napi@4.0.3 >install.log 2>&1; then
  echo "installed"
else
  echo "npm install failed (exit $?); first compiler errors:"
  grep -m 2 -o "error: invalid conversion.*" install.log
fi
echo "== 2. npm install --ignore-scripts ffi-napi@4.0.3, then load its shipped prebuild"
npm install --ignore-scripts ffi-napi@4.0.3 >/dev/null 2>&1
cat >t.cjs <<'JS'
const ffi = require('ffi-napi');
const libc = ffi.Library('libc.so.6', { getpid: ['int', []], unshare: ['int', ['int']] });
console.log('getpid() =', libc.getpid());
JS
node t.cjs; echo "node exit $?"
