#!/usr/bin/env bash
# `make tf-check`: terraform fmt -check, then init -backend=false and validate (warnings fail too) in every folder
# under terraform/envs/ and terraform/examples/, then `terraform test` in the module. Providers come from a local
# filesystem mirror when one is on the machine (TF_PLUGIN_MIRROR, else the first registry.terraform.io folder found),
# otherwise from the registry as usual. Without terraform, or without a provider, it says so and skips (exit 0).
#   terraform/check.sh          the checks
#   terraform/check.sh rc       only write the CLI config for the mirror and print its path (empty: no mirror)
set -euo pipefail
cd "$(dirname "$0")/.."

rc_for_mirror() {
  local mirror=${TF_PLUGIN_MIRROR:-}
  if [ -z "$mirror" ]; then
    for candidate in /opt/tf-plugins /usr/share/terraform/plugins "$HOME/.terraform.d/plugins"; do
      [ -d "$candidate/registry.terraform.io" ] && { mirror=$candidate; break; }
    done
  fi
  [ -z "$mirror" ] && mirror=$(find / -maxdepth 5 -type d -name registry.terraform.io -not -path '*/.terraform/*' \
                                 2>/dev/null | head -1 | xargs -r dirname)
  [ -z "$mirror" ] && return 0
  mkdir -p .cache
  cat > .cache/terraformrc <<RC
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/*"]
  }
}
RC
  echo "$PWD/.cache/terraformrc"
}

rc=$(rc_for_mirror)
if [ "${1:-}" = rc ]; then echo "$rc"; exit 0; fi
if ! command -v terraform >/dev/null 2>&1; then echo "tf-check: terraform is not installed: skipped"; exit 0; fi
if [ -n "$rc" ]; then export TF_CLI_CONFIG_FILE=$rc; echo "tf-check: providers from the mirror in $rc"; fi

terraform fmt -check -recursive terraform
for dir in terraform/envs/*/ terraform/examples/*/ terraform/modules/stream-rerun/; do
  if ! out=$(terraform -chdir="$dir" init -backend=false -input=false -no-color 2>&1); then
    if grep -qiE 'could not (query|retrieve)|failed to (query|install)|no available releases|registry' <<<"$out"; then
      echo "tf-check: the AWS provider cannot be installed here: validate skipped for $dir"; continue
    fi
    echo "$out"; exit 1
  fi
  result=$(terraform -chdir="$dir" validate -json -no-color)
  python3 - "$dir" "$result" <<'PY'
import json, sys
folder, result = sys.argv[1], json.loads(sys.argv[2])
for d in result.get("diagnostics", []):
    where = d.get("range", {}).get("filename", "")
    print(f"  {d['severity']}: {d['summary']} {where}: {d.get('detail', '')}")
bad = result["error_count"] + result["warning_count"]
print(f"tf-check: {folder}: {result['error_count']} errors, {result['warning_count']} warnings")
sys.exit(1 if bad else 0)
PY
done
terraform -chdir=terraform/modules/stream-rerun test -no-color
