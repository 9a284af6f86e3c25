#!/usr/bin/env bash
# `make push ENV=...` (first deploy, step 2 of 3): build the worker image for the env's cpu_architecture, push it to
# the env's ECR repository tagged with the git SHA, and write the image_uri, pinned by the digest ECR stores, to
# <env>/image.auto.tfvars.json, which `make apply` reads. The digest comes from ECR, never from the local engine
# (podman's local digest is not the one ECR stores). The repository's tags are IMMUTABLE: a tag already in ECR is
# "already pushed" (exit 0, nothing built). Environment: TF_DIR, CONTAINER, IMAGE_TAG, BUILD_FLAGS, PLATFORM.
set -euo pipefail
: "${TF_DIR:?}" "${CONTAINER:?}" "${IMAGE_TAG:?}"

repo=$(terraform -chdir="$TF_DIR" output -raw ecr_repository_url 2>/dev/null || true)
if [ -z "$repo" ] || [ "$repo" = null ]; then
  echo "push: no ECR repository for $TF_DIR yet: make bootstrap ENV=... first" >&2
  exit 2
fi
# The output exists once the env is applied; after `make bootstrap` (only the repository) Terraform evaluates it.
arch=$(terraform -chdir="$TF_DIR" output -raw cpu_architecture 2>/dev/null || true)
[ -n "$arch" ] || arch=$(echo 'module.stream_rerun.cpu_architecture' |
                          terraform -chdir="$TF_DIR" console 2>/dev/null | tr -d '"' || true)
if [ -z "$arch" ]; then
  echo "push: no cpu_architecture output in $TF_DIR: make bootstrap ENV=... first" >&2
  exit 2
fi
platform=${PLATFORM:-$([ "$arch" = X86_64 ] && echo linux/amd64 || echo linux/arm64)}
registry=${repo%%/*}
name=${repo#*/}
region=$(echo "$registry" | cut -d. -f4)

ecr_digest() {  # the digest ECR stores for the tag; empty when the tag is not there
  aws ecr describe-images --region "$region" --repository-name "$name" --image-ids "imageTag=$IMAGE_TAG" \
    --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true
}

digest=$(ecr_digest)
if [ -n "$digest" ] && [ "$digest" != None ]; then
  echo "push: $repo:$IMAGE_TAG is already pushed ($digest; the repository's tags are immutable)"
else
  echo "push: $CONTAINER build --platform $platform (task cpu_architecture $arch)"
  aws ecr get-login-password --region "$region" | "$CONTAINER" login --username AWS --password-stdin "$registry"
  # shellcheck disable=SC2086 # BUILD_FLAGS is a list of flags
  "$CONTAINER" build ${BUILD_FLAGS:-} --platform "$platform" -t "$repo:$IMAGE_TAG" .
  "$CONTAINER" push "$repo:$IMAGE_TAG"
  digest=$(ecr_digest)
  if [ -z "$digest" ] || [ "$digest" = None ]; then
    echo "push: ECR does not list $repo:$IMAGE_TAG after the push" >&2
    exit 1
  fi
fi
printf '{"image_uri": "%s@%s"}\n' "$repo" "$digest" > "$TF_DIR/image.auto.tfvars.json"
echo "image_uri = \"$repo@$digest\" (in $TF_DIR/image.auto.tfvars.json: make apply uses it)"
