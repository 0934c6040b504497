# One image for every service of docker-compose.yml: `pel` is the entrypoint, each service
# gives its subcommand (demo --init-only, serve, demo --load-only).
FROM python:3.12-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY crypto ./crypto
COPY ledger ./ledger
COPY node ./node
COPY api ./api
COPY web ./web
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 pel \
    && mkdir /demo \
    && chown pel /demo

# Keys and tokens are written 0600 by this user on the shared /demo volume.
USER pel
EXPOSE 8080
ENTRYPOINT ["pel"]
CMD ["--help"]
