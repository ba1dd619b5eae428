# Sourced by the GPU scripts: makes this checkout's recdiff importable on a lent GPU machine.
#
# That machine has PyTorch but not every recdiff dependency, and nothing can be fetched there,
# so the wheels carried in $WHEELS (default ./.whl, made here with `pip download --no-deps
# --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d .whl pydantic
# pydantic_core annotated-types typing-inspection typing_extensions entrypoints typer click
# annotated-doc shellingham rich einops pyyaml`) are installed into /tmp/site first.
ROOT=${ROOT:-$(pwd)}
WHEELS=${WHEELS:-$ROOT/.whl}
if [[ -d "$WHEELS" ]] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 2
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch, recdiff; print('device:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu', '| torch', torch.__version__)" || {
  echo "error: recdiff or one of its dependencies does not import here; carry the missing packages as wheels in $WHEELS (see benchmarks/gpu_env.sh)" >&2
  exit 2
}
