# Syndicator daemon: scheduled refreshes and the feeds served on port 8080.
#   docker build -t syndicator .
#   docker run -p 8080:8080 -v syndicator-data:/data -v "$PWD/my.toml:/config/syndicator.toml:ro" syndicator
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SYNDICATOR_CONFIG=/config/syndicator.toml

RUN groupadd --system --gid 10001 syndicator && useradd --system --create-home --uid 10001 --gid 10001 syndicator

WORKDIR /app
COPY pyproject.toml README.md ./
COPY syndicator ./syndicator
# The same install as the README's first command.
RUN python3 -m venv .venv && .venv/bin/pip install .
ENV PATH=/app/.venv/bin:$PATH

COPY config/docker.toml /config/syndicator.toml
COPY config/demo /config/demo
# /data/public exists in the image so that a named volume mounted there (docker-compose.yml) is ours too.
RUN mkdir -p /data/public && chown -R syndicator:syndicator /data /config

USER 10001:10001
VOLUME ["/config", "/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
CMD ["syndicator", "run", "--host", "0.0.0.0", "--port", "8080"]
