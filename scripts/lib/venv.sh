# shellcheck shell=bash
# Sourced by the scripts that run Python: the project's virtual environment
# (made by scripts/install-deps) comes first on PATH, so `python3` is the one
# with pytest, fastavro, confluent-kafka and jsonschema.
tecg_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH="$tecg_root/.venv/bin:$PATH"
