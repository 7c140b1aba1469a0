# syntax=docker/dockerfile:1
#
# driftguard webhook image: a static binary on distroless, non-root.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ghcr.io/driftguard/driftguard:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 ...   (cross-compiles on the build platform)
#
# NOTE: not built in this repository's CI sandbox (there is no Docker engine
# there); the chart tests (hack/chart-check.sh) do not need the image.
# The binary runs as `driftguard serve` (ENTRYPOINT + CMD); the Helm chart
# passes `serve` and its flags as args.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly GOWORK=off
# dependencies first, cached while go.mod and go.sum are unchanged
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/driftguard ./cmd/webhook

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="driftguard" \
      org.opencontainers.image.description="Kubernetes admission webhook and drift guard" \
      org.opencontainers.image.source="https://github.com/driftguard/driftguard" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/driftguard /driftguard
# 9443 webhook (TLS), 8080 /metrics, 8081 /healthz and /readyz
EXPOSE 9443 8080 8081
USER 65532:65532
ENTRYPOINT ["/driftguard"]
CMD ["serve"]
