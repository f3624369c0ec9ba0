FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY projections ./projections
COPY api ./api
COPY terminals ./terminals
COPY exports ./exports
RUN pip install . \
    && useradd --system --create-home --uid 10001 tamaq \
    && mkdir -p /app/var \
    && chown tamaq:tamaq /app/var

USER tamaq
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["tamaq", "serve", "--host", "0.0.0.0", "--port", "8000"]
