# mobsim in one image: the reference server (`mobsim serve`, the default command) and the Locust
# scenarios (`locust -f /app/scenarios --master` / `--worker`) for deploy/compose.yaml and
# deploy/kubernetes/. Build from the repository root: docker build -t mobsim .   (docs/deploy.md)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The sources stay in /app: /app/scenarios is the locustfile directory the Locust roles load.
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contract ./contract
COPY simulator ./simulator
COPY server_stub ./server_stub
COPY scenarios ./scenarios
COPY mobsim ./mobsim
COPY demo ./demo
COPY conformance ./conformance
COPY providers ./providers
RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin mobsim \
    && mkdir /data \
    && chown mobsim:mobsim /data

# Not root. /data holds the server's SQLite file (mount a volume there); relative paths land there.
USER mobsim
WORKDIR /data
VOLUME ["/data"]

# 8080: mobsim serve. 8089 and 5557: the Locust master's web UI and the port its workers connect to.
EXPOSE 8080 8089 5557

# /health answers without touching the store and needs no inspection token (server_stub/sdk_api.py).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"]

ENTRYPOINT ["mobsim"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--db", "/data/mobsim.db"]
