# One image for the whole front door. docker-compose.yml runs `frontdoor migrate` once, then
# `frontdoor serve <service>` in one container per service; the default command runs all three.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH

WORKDIR /app
RUN pip install --no-cache-dir --disable-pip-version-check "uv>=0.5"

# Dependencies exactly as locked, in their own layer so code changes do not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

COPY frontdoor ./frontdoor
COPY shared ./shared
COPY services ./services
COPY migrations ./migrations
RUN uv sync --locked --no-dev

# Never run as root; var/ is where the embedded SQLite default lives when no database URL is set.
RUN useradd --system --uid 10001 --home-dir /app frontdoor \
    && mkdir -p /app/var && chown frontdoor /app/var
USER frontdoor

EXPOSE 8001 8002 8003
CMD ["frontdoor", "up", "--host", "0.0.0.0"]
