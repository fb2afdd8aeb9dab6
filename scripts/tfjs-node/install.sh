#!/usr/bin/env bash
# Optional side install of @tensorflow/tfjs-node (native TensorFlow backend) WITHOUT its install
# script's download of libtensorflow (which needs storage.googleapis.com, unreachable here).
#
# Recipe:
#   1. pip-download the tensorflow-cpu wheel from PyPI and extract only libtensorflow_cc.so.2,
#      libtensorflow_framework.so.2 (they export the whole TF_*/TFE_* C API) and the ~14 C-API
#      headers the binding includes;
#   2. npm-install @tensorflow/tfjs-node@4.22.0 with --ignore-scripts into a private prefix
#      (NOT the project's package.json / node_modules);
#   3. point its tfjs-core / tfjs-backend-cpu at the project's copies (symlinks), so one tfjs-core
#      instance serves both;
#   4. build binding/*.cc with npm's bundled node-gyp against those headers/libs, putting
#      tfjs_binding.node where node-pre-gyp's find() (used by dist/index.js) looks for it. The
#      binding's RUNPATH ($ORIGIN/../../deps/lib) finds the libs: no LD_LIBRARY_PATH needed;
#   5. smoke-test matMul / conv2d / gradients.
#
# Idempotent: each step is skipped when its result is already there (FORCE=1 redoes all).
# Env knobs: TF_VERSION (default 2.15.1; 2.12–2.21 work the same way), TFJS_NODE_DIR (default
# <repo>/.sparsity/tfjs-node), KEEP_WHEEL=1 keeps the ~200 MB wheel, FORCE=1.
# Needs: python3 + pip reaching PyPI, npm reaching the npm registry, g++/make, node headers
# (nodedir; /usr/include/node here).
set -euo pipefail

TFJS_NODE_VERSION=4.22.0
TF_VERSION="${TF_VERSION:-2.15.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${TFJS_NODE_DIR:-$ROOT/.sparsity/tfjs-node}"
LIBTF="$DEST/libtensorflow"
PKG="$DEST/node_modules/@tensorflow/tfjs-node"
FORCE="${FORCE:-0}"
T0=$(date +%s)

log() { printf '[tfjs-node] %s\n' "$*" >&2; }
npm_locked() { if command -v flock >/dev/null; then flock /tmp/npm.lock npm "$@"; else npm "$@"; fi; }

mkdir -p "$DEST"
[ "$FORCE" = 1 ] && rm -rf "$LIBTF" "$DEST/node_modules" "$DEST/package.json" "$DEST/package-lock.json"

# ---------------------------------------------------------------- 1. libtensorflow from PyPI
if [ "$(cat "$LIBTF/VERSION" 2>/dev/null || true)" != "$TF_VERSION" ]; then
  rm -rf "$LIBTF"
  mkdir -p "$DEST/wheel"
  WHL=$(ls "$DEST"/wheel/tensorflow_cpu-"$TF_VERSION"-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$WHL" ]; then
    log "downloading tensorflow-cpu==$TF_VERSION wheel (~200 MB) from PyPI"
    # --python-version/--platform: the C libraries inside do not depend on the Python version,
    # so any cp3x manylinux x86_64 wheel will do, whatever python3 this machine has.
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --python-version 3.11 --implementation cp \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
      "tensorflow-cpu==$TF_VERSION" -d "$DEST/wheel"
    WHL=$(ls "$DEST"/wheel/tensorflow_cpu-"$TF_VERSION"-*.whl | head -1)
  fi
  log "extracting C libraries + C-API headers from $(basename "$WHL")"
  python3 - "$WHL" "$LIBTF.tmp" <<'PY'
import os, shutil, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
shutil.rmtree(out, ignore_errors=True)
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
# Exactly what binding/*.cc pulls in (g++ -M), across TF 2.12..2.21 layouts.
hdr_prefixes = ('tensorflow/c/', 'tensorflow/core/platform/ctstring', 'tsl/c/',
                'tsl/platform/ctstring', 'xla/tsl/c/', 'tensorflow/tsl/c/',
                'tensorflow/tsl/platform/ctstring')
z = zipfile.ZipFile(whl)
found = set()
for info in z.infolist():
    n = info.filename
    if n in libs:
        dst = os.path.join(out, 'lib', os.path.basename(n))
    elif n.startswith('tensorflow/include/') and n.endswith('.h') and \
            n[len('tensorflow/include/'):].startswith(hdr_prefixes):
        dst = os.path.join(out, 'include', n[len('tensorflow/include/'):])
    else:
        continue
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with z.open(info) as src, open(dst, 'wb') as f:
        shutil.copyfileobj(src, f, 1 << 20)
    found.add(n)
missing = libs - found
if missing:
    sys.exit(f'wheel lacks {sorted(missing)}')
if not os.path.exists(os.path.join(out, 'include/tensorflow/c/eager/c_api.h')):
    sys.exit('wheel lacks tensorflow/include/tensorflow/c/eager/c_api.h')
PY
  # Link-time names for -ltensorflow / -ltensorflow_framework (binding.gyp). The resulting
  # NEEDED entries are the SONAMEs libtensorflow_cc.so.2 / libtensorflow_framework.so.2.
  ln -sfn libtensorflow_cc.so.2 "$LIBTF.tmp/lib/libtensorflow.so"
  ln -sfn libtensorflow_framework.so.2 "$LIBTF.tmp/lib/libtensorflow_framework.so"
  echo "$TF_VERSION" > "$LIBTF.tmp/VERSION"
  mv "$LIBTF.tmp" "$LIBTF"
  [ "${KEEP_WHEEL:-0}" = 1 ] || rm -rf "$DEST/wheel"
  # Fail early if the C API the binding calls is not exported (nm is in binutils).
  if command -v nm >/dev/null; then
    nm -D --defined-only "$LIBTF/lib/libtensorflow_cc.so.2" > "$DEST/.exported-symbols"
    for s in TFE_NewContext TFE_Execute TFE_TensorHandleResolve TF_SessionRun TF_LoadSessionFromSavedModel TF_Version; do
      grep -q " T $s@" "$DEST/.exported-symbols" || { log "symbol $s not exported by libtensorflow_cc.so.2"; exit 1; }
    done
    rm -f "$DEST/.exported-symbols"
  fi
else
  log "libtensorflow $TF_VERSION already extracted"
fi

# ---------------------------------------------------------------- 2. tfjs-node, no install script
if [ "$(node -p "try{require('$PKG/package.json').version}catch{''}")" != "$TFJS_NODE_VERSION" ]; then
  log "npm install --ignore-scripts @tensorflow/tfjs-node@$TFJS_NODE_VERSION into $DEST"
  [ -f "$DEST/package.json" ] || echo '{"name":"sparsity-tfjs-node-side-install","private":true}' > "$DEST/package.json"
  npm_locked install --prefix "$DEST" --ignore-scripts --no-audit --no-fund --no-save \
    "@tensorflow/tfjs-node@$TFJS_NODE_VERSION"
else
  log "@tensorflow/tfjs-node@$TFJS_NODE_VERSION already installed"
fi

# ---------------------------------------------------------------- 3. share the project's tfjs-core
# tfjs keeps its engine, kernel and gradient registries on globalThis, so two tfjs-core copies
# would still cooperate, but each duplicate tfjs-backend-cpu kernel registration prints a
# warning (~170 lines) and tensors would come from two Tensor classes. Symlinking makes node
# resolve the side install's '@tensorflow/tfjs-core' to the project's very module.
for m in tfjs-core tfjs-backend-cpu; do
  proj="$ROOT/node_modules/@tensorflow/$m"
  side="$DEST/node_modules/@tensorflow/$m"
  if [ -f "$proj/package.json" ] && \
     [ "$(node -p "require('$proj/package.json').version")" = "$TFJS_NODE_VERSION" ]; then
    if [ ! -L "$side" ]; then
      rm -rf "$side"
      ln -s "$(python3 -c 'import os,sys;print(os.path.relpath(sys.argv[1],sys.argv[2]))' "$proj" "$(dirname "$side")")" "$side"
      log "linked $m -> project's copy"
    fi
  else
    log "project has no $m@$TFJS_NODE_VERSION: keeping the side install's own copy"
  fi
done

# ---------------------------------------------------------------- 4. build the N-API binding
mkdir -p "$PKG/deps"
ln -sfn "$LIBTF/lib" "$PKG/deps/lib"
ln -sfn "$LIBTF/include" "$PKG/deps/include"
# Where dist/index.js will look: node-pre-gyp's find() (lib/napi-v<N>/tfjs_binding.node).
BINDING=$(cd "$PKG" && node -p "require('@mapbox/node-pre-gyp').find(require('path').resolve('package.json'))")
NAPI=$(basename "$(dirname "$BINDING")" | sed 's/^napi-v//')
STAMP="$PKG/build/.sparsity-built-against"
if [ -f "$BINDING" ] && [ "$(cat "$STAMP" 2>/dev/null || true)" = "$TF_VERSION/$(node -v)" ]; then
  log "binding already built: $BINDING"
else
  NODE_GYP="$(npm prefix -g)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$NODE_GYP" ] || NODE_GYP="$(command -v node-gyp || true)"
  [ -n "$NODE_GYP" ] || { log "node-gyp not found (npm's bundled copy is expected)"; exit 1; }
  NODEDIR="$(npm config get nodedir 2>/dev/null || true)"
  if [ -z "$NODEDIR" ] || [ "$NODEDIR" = undefined ] || [ "$NODEDIR" = null ]; then
    NODEDIR="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  fi
  [ -f "$NODEDIR/include/node/node_api.h" ] || { log "no node headers under $NODEDIR/include/node"; exit 1; }
  log "building tfjs_binding.node (napi v$NAPI, nodedir $NODEDIR)"
  (cd "$PKG" && node "$NODE_GYP" rebuild --nodedir="$NODEDIR" \
      --napi_build_version="$NAPI" --module_name=tfjs_binding --module_path="$(dirname "$BINDING")" \
      > "$DEST/build.log" 2>&1) || { tail -40 "$DEST/build.log" >&2; exit 1; }
  echo "$TF_VERSION/$(node -v)" > "$STAMP"
fi

# ---------------------------------------------------------------- 5. smoke test
log "smoke test"
(cd "$DEST" && TF_CPP_MIN_LOG_LEVEL=2 node -e "
const tf = require('@tensorflow/tfjs-node');
const close = (a, b) => JSON.stringify(a.map((v) => +v.toFixed(4))) === JSON.stringify(b);
const mm = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])).dataSync();
const cv = tf.conv2d(tf.ones([1, 4, 4, 1]), tf.ones([2, 2, 1, 1]), 1, 'valid').dataSync();
const w = tf.variable(tf.tensor1d([1, 2, 3]));
const { grads } = tf.variableGrads(() => tf.sum(tf.square(w)));
const g = grads[w.name].dataSync();
const ok = tf.getBackend() === 'tensorflow' && close([...mm], [19, 22, 43, 50]) &&
  close([...cv], new Array(9).fill(4)) && close([...g], [2, 4, 6]);
console.error('[tfjs-node] backend=' + tf.getBackend() + ' TF=' + tf.backend().binding.TF_Version +
  ' matMul/conv2d/variableGrads ' + (ok ? 'OK' : 'WRONG'));
process.exit(ok ? 0 : 1);
")

log "done in $(( $(date +%s) - T0 ))s; disk: $(du -sh "$DEST" | cut -f1)"
cat <<EOF
To use it, let require('@tensorflow/tfjs-node') resolve to the side install:

  export NODE_PATH="$DEST/node_modules\${NODE_PATH:+:\$NODE_PATH}"
  export TF_CPP_MIN_LOG_LEVEL=2        # optional: silence TensorFlow's C++ info logs

then, in the project (it already does this in engine/backend.ts):

  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-node');    // registers backend 'tensorflow' in the same engine
  await tf.setBackend('tensorflow');

or without NODE_PATH: require('$PKG').
EOF
