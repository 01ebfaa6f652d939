#!/usr/bin/env bash
# A self-contained FedActors for a Linux x64 node that has no .NET (a cluster or GPU node): the CLI with its own .NET
# runtime, and either the libtorch 2.10 CPU build this repo restores (--libtorch bundled, ~590 MB) or none, to load the
# node's own PyTorch libtorch instead (--libtorch host, ~136 MB; 45 MB as .tar.xz).
#
#   deploy/bundle.sh [--libtorch bundled|host] [--out DIR] [--tar]
#   DIR/fedactors run hocon/experiments/pfl-fmnist-pat2.conf --set 'fedactors.data.directory="/data/fmnist"'
#
# With --libtorch host the wrapper finds libtorch in $LIBTORCH_DIR, else in the PyTorch of `python3`. Measured: TorchSharp
# 0.107 (built against libtorch 2.10) ran training on a node's PyTorch 2.11.0+cu130 (CPU, and CUDA in a probe).
# The node needs Fashion-MNIST's four *-ubyte.gz files: /usr/share/datasets/fashion-mnist, or fedactors.data.directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

libtorch=bundled out=artifacts/bundle tar=0
while [ $# -gt 0 ]; do
  case "$1" in
    --libtorch) libtorch="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --tar) tar=1; shift ;;
    *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
case "$libtorch" in bundled|host) ;; *) echo "--libtorch is bundled or host, not '$libtorch'" >&2; exit 2 ;; esac

# Replaces an earlier bundle in $out, never anything else.
if [ -e "$out" ] && [ ! -d "$out/app" ]; then echo "$out exists and is not a bundle; pick another --out" >&2; exit 2; fi
rm -rf "$out"
dotnet publish src/FedActors.Cli -c Release -r linux-x64 --self-contained -nologo -v quiet -o "$out/app"
if [ "$libtorch" = host ]; then
  # Everything of libtorch's own; TorchSharp's binding (libLibTorchSharp.so) stays and links to the node's copy.
  find "$out/app" -maxdepth 1 \( -name 'libtorch*.so*' -o -name 'libc10*.so*' -o -name 'libgomp*.so*' -o -name 'libshm.so' \
    -o -name 'libaoti_custom_ops.so' -o -name 'libbackend_with_compiler.so' -o -name 'libjitbackend_test.so' \
    -o -name 'libnnapi_backend.so' \) -delete
fi

{
  cat <<'EOF'
#!/usr/bin/env bash
# FedActors, self-contained. Same arguments as ./run.sh's CLI: run, matrix, bench, compare.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# A node without ICU runs in .NET's invariant-culture mode.
ldconfig -p 2>/dev/null | grep -q libicuuc || export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
EOF
  if [ "$libtorch" = host ]; then cat <<'EOF'
# libtorch is the node's: $LIBTORCH_DIR, else the PyTorch of python3.
dir="${LIBTORCH_DIR:-$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)}"
if [ ! -f "$dir/libtorch_cpu.so" ]; then
  echo "no libtorch found: set LIBTORCH_DIR to a folder with libtorch_cpu.so (e.g. a PyTorch's torch/lib)" >&2; exit 1
fi
export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
EOF
  fi
  echo 'exec "$here/app/fedactors" "$@"'
} > "$out/fedactors"
chmod +x "$out/fedactors"
if [ "$tar" = 1 ]; then
  tar -C "$(dirname "$out")" -cJf "$out.tar.xz" "$(basename "$out")"
  echo "$out.tar.xz"
else
  echo "$out/fedactors"
fi
