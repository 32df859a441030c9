#!/usr/bin/env bash
# Runs once on a machine with an NVIDIA GPU (the device machine) what this
# one cannot: the GPU tests and the health figures with NVML, for README's
# health table. From the repository root:
#
#   bench/cmd/health/gpu.sh [OUT]      (OUT: a folder for the logs; default $OUT, else a new one in /tmp)
#
# It needs Go and a C compiler (the cgo build loads NVML), and for the torch
# test a python3 with CUDA torch (TEND_TORCH_PYTHON=... to pick one). Each
# step logs to OUT/NAME.log and prints one line; a failing step does not
# stop the others, and the exit status says whether any failed.
set -uo pipefail
cd "$(dirname "$0")/../../.."
out=${1:-${OUT:-$(mktemp -d /tmp/tend-gpu-XXXXXX)}}
mkdir -p "$out" && out=$(cd "$out" && pwd)
echo "logs in $out"
status=0
step() {
  local name=$1; shift
  local start=$SECONDS
  if "$@" >"$out/$name.log" 2>&1; then
    echo "ok   $name ($((SECONDS - start))s)"
  else
    echo "FAIL $name ($((SECONDS - start))s): see $out/$name.log"; tail -5 "$out/$name.log"
    status=1
  fi
}
{ uptime; nproc; nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv; go version; } >"$out/machine.log" 2>&1
cat "$out/machine.log"

export TEND_GPU=1 CGO_ENABLED=1
# The GPU tests: NVML one-shot and started (events), torch on every visible
# device, and NVML's memory step by step (Init, NO_ATTACH, device queries,
# events, the CUDA version that loads libcuda).
step nvml-tests go test -count=1 -v -run 'TestGPUReal|TestNVMLFootprintReal' ./health/nvmlgpu/
step torch-test go test -count=1 -v -run 'TestTorchCUDAReal' ./health/
grep -h 'footprint \|one-shot check\|started check' "$out/nvml-tests.log" | sed 's/^ *//'

# The bench with the GPU check (cgo build), --from of both builds beside
# curl, and the resident RSS with NVML open after 30 s idle.
go build -o "$out/tend-health" ./adapters/tend-health || status=1
CGO_ENABLED=0 go build -o "$out/tend-health-static" ./adapters/tend-health || status=1
(cd bench && go build -o "$out/bench-health" ./cmd/health) || status=1
step bench bash -c "cd bench && '$out/bench-health' -gpu -n 50 -idle 30s -bin '$out/tend-health' -other-bin '$out/tend-health-static'"
cat "$out/bench.log"

# What the cgo build loads on --from (must be libc only: NVML is dlopened
# by a GPU check, never at start) and its init time.
if command -v strace >/dev/null; then
  strace -f -e trace=openat -o "$out/from-openat.log" "$out/tend-health" --from http://127.0.0.1:1 --timeout 1s >/dev/null 2>&1
  echo "libraries opened by --from: $(grep -o '"[^"]*\.so[^"]*"' "$out/from-openat.log" | grep -v ENOENT | sort -u | tr '\n' ' ')"
fi
GODEBUG=inittrace=1 "$out/tend-health" --from http://127.0.0.1:1 --timeout 1s 2>&1 >/dev/null |
  awk '/^init/ {t += $5; n++} END {printf "inittrace (cgo build): %d packages, %.2f ms\n", n, t}'
exit $status
