#!/usr/bin/env bash
# The GPU checks of the core, as one script (issue 2: "where a GPU is available, run the same benchmark on it once").
#   bash benchmarks/gpu_check.sh [DATA_DIR] [OUT_DIR]
# DATA_DIR holds diffrec_ml-1m_clean/ and diffurec_amazon_beauty/ (default ../shared/data); OUT_DIR gets the logs
# and JSON figures (default runs/gpu). Each stage has its own time limit, so one failing stage does not hide the rest.
# Needs only torch, numpy, scipy, pandas, safetensors, pytest (no Streamlit): the core has no UI imports.
set -u
DATA=${1:-../shared/data}
OUT=${2:-runs/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$py -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'python', sys.version.split()[0])" | tee -a "$OUT/gpu.txt"
echo "== 1. contract and CPU-vs-GPU equality of every registered method (tests/test_cuda.py)"
timeout 240 $py -m pytest tests/test_cuda.py -q -p no:cacheprovider --no-header -rfE 2>&1 | tee "$OUT/test_cuda.log" | tail -25
echo "== 2. the command line on the sample world, on the GPU"
timeout 60 $py -m diffrec_core train --method diffrec --data sample --device cuda --json --out /tmp/ckpt 2>/dev/null | tail -1 | tee "$OUT/cli_train.json"
echo "== 3. DiffRec ML-1M benchmark on the GPU (3 seeds, MultVAE too)"
timeout 300 $py benchmarks/diffrec_ml1m.py --data "$DATA/diffrec_ml-1m_clean" --device cuda --seeds 1 2 3 \
    --json "$OUT/bench_ml1m_cuda.json" 2>"$OUT/bench_ml1m_cuda.err" | tee "$OUT/bench_ml1m_cuda.txt" | tail -40
echo "== 3b. where a GPU epoch and evaluation pass spend their time"
timeout 120 $py benchmarks/profile_diffrec.py --device cuda --data "$DATA/diffrec_ml-1m_clean" --rows 15 \
    2>&1 | grep -v USDT | tee "$OUT/profile_cuda.txt" | tail -45
echo "== 4. DiffuRec, authors' configuration, on Amazon Beauty: ${BEAUTY_BUDGET:=150} s of training + validation"
timeout $((BEAUTY_BUDGET + 120)) $py benchmarks/sequential_beauty.py quality --method diffurec --device cuda \
    --budget "$BEAUTY_BUDGET" --set eval_every=10 --data "$DATA/diffurec_amazon_beauty" \
    --json "$OUT/beauty_diffurec_cuda.json" 2>&1 | tee "$OUT/beauty_diffurec_cuda.log" | tail -30
