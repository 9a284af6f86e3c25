# ddb-stream-rerun worker. Build: make image. Base: any Debian-based Python >= 3.11 image (PYTHON_IMAGE).
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---- builder: a virtualenv with the locked dependencies, then the app ----
FROM ${PYTHON_IMAGE} AS builder
# Only for builds behind a TLS-intercepting proxy (CI here): point pip and uv at a mounted CA bundle. Unset by default.
ARG SSL_CERT_FILE
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
# uv in a venv of its own (Debian's Python refuses system-wide pip installs); it never reaches the runtime stage.
RUN python -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir "uv==0.13.9"
ENV PATH=/opt/uv/bin:$PATH
# Dependencies first, from the lock file: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-cache
COPY README.md ./
COPY src ./src
# The package's version (hatch-vcs reads git, and the build context has none): make image/push and release.yml pass it.
ARG SETUPTOOLS_SCM_PRETEND_VERSION
RUN uv sync --frozen --no-dev --no-editable --no-cache

# ---- runtime: the virtualenv and nothing else ----
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=builder /opt/venv /opt/venv
# /tmp is where the re-drive file is spooled (the root filesystem is read-only). Fargate mounts a task-definition
# volume root-owned 0755 unless the image declares the path a VOLUME, in which case the volume takes the image's owner
# and mode (aws/containers-roadmap #938): declared here, world-writable and sticky, so user 10001 can write there.
RUN mkdir -p /tmp && chmod 1777 /tmp
VOLUME ["/tmp"]
# A numeric non-root user (ECS and Kubernetes can check runAsNonRoot); the root filesystem may be read-only.
USER 10001:10001
ENTRYPOINT ["python", "-m", "stream_rerun"]
