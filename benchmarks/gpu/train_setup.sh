# Sourced by the training batch scripts on the GPU machine, from the repository root: the carried wheels
# (.devcarry/whl) installed under /tmp/site, offline hub settings, the compiled-kernel cache folder and the
# o200k_harmony tokenizer files (.devcarry/tok.tar.gz) unpacked to /tmp/tok.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .devcarry/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-/tmp/inductor-cache}
mkdir -p /tmp/tok && tar xzf .devcarry/tok.tar.gz -C /tmp/tok
