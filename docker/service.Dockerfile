# The image of an aoetl service: one Dockerfile for agent-gateway, orchestrator, etl-agent and
# monitor, chosen with the SERVICE build argument (image names: aoetl/<service>). From the
# repository root (BuildKit or the legacy builder; BuildKit reads service.Dockerfile.dockerignore,
# the legacy builder only a root .dockerignore, so deploy/tools/build-service-image.sh sends a
# context of the git-listed sources instead):
#   docker build -f docker/service.Dockerfile --build-arg SERVICE=monitor -t aoetl/monitor:<tag> .
# Stages:
#   prune    turbo prune --docker: only the service's workspace packages and its lockfile slice
#   build    pnpm install --frozen-lockfile, tsc -b, pnpm deploy --prod (the service + prod deps)
#            (orchestrator: plus the migrations and /app/migrate.mjs, run by the chart's migrations Job)
#   runtime  the base image's node, /app owned by root, user 65532, `node dist/server.js`;
#            nothing is written outside /tmp, so it runs with a read-only root filesystem.
# Behind a TLS-inspecting proxy, pass its CA certificate (public, PEM text) as --build-arg
# NPM_CA="$(cat ca.pem)": node then trusts it in addition to its own CAs, in the build stages
# only (the runtime stage never sees it). Without a registry for the base image,
# deploy/tools/build-service-image.sh builds a Debian base and passes it as BASE_IMAGE.
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BASE_IMAGE} AS tools
ARG NPM_CA=""
ENV PNPM_HOME=/pnpm TURBO_TELEMETRY_DISABLED=1 NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false \
    NODE_EXTRA_CA_CERTS=${NPM_CA:+/etc/aoetl-build/ca.pem} PATH=/pnpm:$PATH
WORKDIR /repo
# pnpm at the version pinned by packageManager in package.json, installed with npm (whose
# integrity check covers it; corepack's bundled signing keys lag behind the registry's).
COPY package.json ./
RUN set -eu; \
    if [ -n "$NPM_CA" ]; then mkdir -p /etc/aoetl-build && printf '%s\n' "$NPM_CA" >"$NODE_EXTRA_CA_CERTS"; fi; \
    npm install --global --prefix "$PNPM_HOME" --no-audit "$(node -p 'require("./package.json").packageManager')"; \
    ln -sf "$PNPM_HOME/bin/pnpm" /usr/local/bin/pnpm; \
    pnpm --version

FROM tools AS prune
ARG SERVICE
COPY . .
RUN case "$SERVICE" in agent-gateway|orchestrator|etl-agent|monitor) ;; \
      *) echo "build with --build-arg SERVICE=agent-gateway|orchestrator|etl-agent|monitor (got '$SERVICE')" >&2; exit 1 ;; esac; \
    pnpm dlx "turbo@$(node -p 'require("./package.json").devDependencies.turbo')" prune "@aoetl/$SERVICE" --docker --out-dir /out

FROM tools AS build
ARG SERVICE
COPY --from=prune /out/json/ ./
RUN pnpm install --frozen-lockfile --store-dir /pnpm/store --reporter=append-only
COPY --from=prune /out/full/ ./
COPY tsconfig.base.json ./
COPY docker/migrate.mjs /repo/docker/migrate.mjs
RUN pnpm exec tsc -b "services/$SERVICE" \
    && pnpm --filter "@aoetl/$SERVICE" deploy --prod --legacy --store-dir /pnpm/store /app \
    && rm -rf /app/src /app/test /app/tsconfig.json /app/dist/.tsbuildinfo
# The orchestrator image also carries the control-database migrations and their runner (the chart's
# migrations Job runs `node /app/migrate.mjs`): packages/store/migrations next to the deployed
# @aoetl/store, whose node-pg-migrate dependency applies them.
RUN if [ "$SERVICE" = orchestrator ]; then \
      set -eu; \
      store="$(cd /app && node -p 'require("path").join(require("path").dirname(require.resolve("@aoetl/store")), "..")')"; \
      cp -r packages/store/migrations "$store/migrations"; \
      cp docker/migrate.mjs /app/migrate.mjs; \
      (cd /app && node -p 'require.resolve("node-pg-migrate/bin/node-pg-migrate", { paths: [require.resolve("@aoetl/store")] })'); \
    fi

FROM ${BASE_IMAGE} AS runtime
ARG SERVICE
# The unprivileged user (uid/gid 65532, no home, no shell); no package managers and no
# setuid/setgid programs at run time.
RUN set -eu; \
    echo 'aoetl:x:65532:' >>/etc/group; \
    echo 'aoetl:x:65532:65532:aoetl service:/nonexistent:/usr/sbin/nologin' >>/etc/passwd; \
    rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*; \
    find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
USER 65532:65532
LABEL org.opencontainers.image.title="aoetl-${SERVICE}" org.opencontainers.image.source="aoetl/services/${SERVICE}"
CMD ["node", "dist/server.js"]
