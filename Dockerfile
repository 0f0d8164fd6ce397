# The auditstream image used by docker-compose.yml (worker, sinks, init, cli).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed non-root user; /keys and /var/lib/auditstream are created here so that the
# named volumes mounted on them start out owned by it.
RUN useradd --create-home --uid 10001 --user-group auditstream \
    && mkdir -p /keys /var/lib/auditstream \
    && chown auditstream:auditstream /keys /var/lib/auditstream

WORKDIR /app
COPY pyproject.toml README.md ./
COPY auditstream ./auditstream
# A regular install: the migrations and the default policy ship inside the package.
RUN pip install '.[all]'

USER auditstream
ENTRYPOINT ["auditstream"]
CMD ["--help"]
