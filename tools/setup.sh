# Set-up shared by ./run.sh and ./test.sh (sourced, not run): the virtual environment .venv with
# the CPU torch wheel and the package (editable, with its test extra), then .venv put first on PATH.
# Idempotent: .venv/.emofusion-setup records the hash of pyproject.toml it was installed from; while
# it matches, nothing is installed. PYTHON picks the interpreter (default python3, 3.11 or newer);
# EMOFUSION_TORCH_INDEX_URL, if set, is the index the torch wheel comes from (e.g. PyTorch's own
# CPU wheel index, where pip's default would fetch the CUDA build).

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.emofusion-setup"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "setup: $python is not Python 3.11 or newer (set PYTHON to one that is)" >&2
        exit 1
    fi
    echo "setup: creating $venv" >&2
    "$python" -m venv "$venv"
fi

want="$("$venv/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
    "$root/pyproject.toml")"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    # torch first, at the version pyproject.toml pins, so that the package's install finds it there
    torch_pin="$(sed -n 's/^ *"\(torch==[^"]*\)".*/\1/p' "$root/pyproject.toml")"
    echo "setup: installing $torch_pin, then the package (pyproject.toml changed or first run)" >&2
    "$venv/bin/python" -m pip install ${EMOFUSION_TORCH_INDEX_URL:+--index-url "$EMOFUSION_TORCH_INDEX_URL"} "$torch_pin"
    "$venv/bin/python" -m pip install -e "$root[test]"
    echo "$want" > "$stamp"
fi

export VIRTUAL_ENV="$venv"
export PATH="$venv/bin:$PATH"
