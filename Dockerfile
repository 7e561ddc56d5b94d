# Multi-stage: build a static binary (siyu is pure Go: no cgo, even for
# SQLite), then ship it alone on a distroless base as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/siyu .
# The data folder, made here: the runtime image has no shell to make it.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/siyu /siyu
COPY scripts /scripts
# /data must belong to nonroot (uid 65532) before USER: SQLite creates
# siyu.db and its journal there, and a root-owned folder refuses them.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
# A container listens on every interface, configured or not (siyu's own
# default is loopback when no platform is configured): the public demo
# account then answers only with SIYU_DEMO=1.
ENV SIYU_SCRIPTS=/scripts SIYU_SQLITE=/data/siyu.db SIYU_ADDR=:8080
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/siyu"]
