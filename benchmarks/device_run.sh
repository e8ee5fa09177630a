#!/usr/bin/env bash
# The GPU work of a lent device session (../.library/device/README.md), one step per call:
#
#   bash benchmarks/device_run.sh pack           here: the wheels the device lacks
#                                                (benchmarks/device_wheels.txt) and a git bundle
#                                                of HEAD, into .whl/ (git-ignored)
#   bash benchmarks/device_run.sh check          there: benchmarks/gpu_check.py, the plain path
#                                                beside the fast and the compiled ones
#   bash benchmarks/device_run.sh profile [P]    there: profile P (default gpu), one notebook
#                                                after another, from a clone of the bundle so
#                                                that every record names its commit
#
# A device call carries .whl and data (Fashion-MNIST), e.g. command "bash benchmarks/device_run.sh
# check", carry [".whl", "data"]. What a step makes lands under $OUT: the check's log and JSON;
# the profile's records, executed notebooks, run.log and full output in $OUT/results/<P>/, copied
# after each notebook, so that a call cut off by its time limit still brings back the notebooks it
# finished (copy them into results/<P>/ here). Rehearse a step on the CPU with a small profile:
#   OUT=/tmp/out PYTHON=.venv/bin/python bash benchmarks/device_run.sh profile smoke
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
step=${1:-}

need_out() {
  : "${OUT:?set OUT to the folder that comes back (the device tool sets it)}"
  mkdir -p "$OUT"
}

# The device's Python has torch but not papermill, pydantic or submitit: install the carried
# wheels into /tmp/site, unless this Python has them already (a rehearsal here).
use_wheels() {
  if ! "$PYTHON" -c "import papermill, pydantic, submitit, filelock, pyhessian" 2>/dev/null; then
    ls .whl/*.whl >/dev/null 2>&1 || { echo "no wheels in .whl/: run the pack step here and carry .whl" >&2; exit 2; }
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
}

case "$step" in
  pack)
    rm -f .whl/*.whl .whl/head.bundle
    grep -v '^#' benchmarks/device_wheels.txt | xargs "$PYTHON" -m pip download -q --no-deps \
      --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_26_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl
    git bundle create -q .whl/head.bundle HEAD
    echo "packed $(ls .whl/*.whl | wc -l) wheels and HEAD ($(git rev-parse --short HEAD)," \
      "$(git status --porcelain --untracked-files=no | wc -l) uncommitted changes): $(du -sh .whl | cut -f1)"
    # A device call carries the tree, .whl and data: 64 MiB in all.
    carried=$(( $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) + $(du -sb .whl | cut -f1) + $(du -sbL data 2>/dev/null | cut -f1 || echo 0) ))
    echo "tree + .whl + data: $((carried / 1048576)) MiB of the 64 MiB a call carries"
    [ "$carried" -lt $((64 * 1048576)) ] || { echo "too much to carry" >&2; exit 1; }
    ;;
  check)
    need_out
    use_wheels
    "$PYTHON" benchmarks/gpu_check.py --out "$OUT" 2>&1 | tee "$OUT/gpu_check_output.txt"
    ;;
  profile)
    need_out
    use_wheels
    profile=${2:-gpu}
    dest="$OUT/results/$profile"
    mkdir -p "$dest/notebooks"
    if [ ! -d .git ] && [ -f .whl/head.bundle ]; then  # the device's copy of the tree has no .git
      rm -rf /tmp/repo
      git clone -q .whl/head.bundle /tmp/repo
      [ -d data ] && ln -s "$PWD/data" /tmp/repo/data
      cd /tmp/repo
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # this tree's sdcore, in the kernels too
    notebooks=$("$PYTHON" -c "from sdcore.claims import NOTEBOOKS; print(*(n.name for n in NOTEBOOKS))")
    gpu=$("$PYTHON" -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU', 'torch', torch.__version__)")
    header="# The $profile profile on $gpu, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), fresh run store: python -m sdcore reproduce --profile $profile --only <notebook> --output results/$profile/notebooks, one notebook after another. Lines as the run printed them."
    for notebook in $notebooks; do
      "$PYTHON" -m sdcore reproduce --profile "$profile" --only "$notebook" \
        --output "$dest/notebooks" >> "$dest/output.txt" 2>&1 || echo "== $notebook FAILED" >> "$dest/output.txt"
      { echo "$header"; grep '^== ' "$dest/output.txt" || true; } > "$dest/run.log"
      cp results/"$profile"/*.json "$dest/" 2>/dev/null || true
    done
    cat "$dest/run.log"
    ;;
  *)
    sed -n '2,18p' "$0" >&2
    exit 2
    ;;
esac
