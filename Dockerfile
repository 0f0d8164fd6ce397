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
COPY schemas ./schemas
# Editable on purpose: auditstream.resources finds migrations and the default retention
# policy in schemas/ beside the package, and schemas/ is not part of a wheel.
RUN pip install -e '.[all]'

USER auditstream
ENTRYPOINT ["auditstream"]
CMD ["--help"]
