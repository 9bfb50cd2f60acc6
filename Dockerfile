# syntax=docker/dockerfile:1
#
# The product's images, one target each, built from the repository root:
#
#   docker build --build-arg VERSION=v0.1.0 --target node -t calicong/node:v0.1.0 .
#
# or all of them with `make images`. Targets: node, typha,
# kube-controllers, apiserver, ctl, linseed, log-shipper,
# prometheus-service, manager, intrusion-detection, compliance,
# packetcapture. Every binary comes from one build
# stage running `make build-product`, the same recipe and flags as
# `make build` (static, version stamped); test/images checks this file
# against the Makefile and the manifests.

# The console's bundle (internal/manager/web), which calico-manager
# embeds: built as `make build-web` builds it, from package-lock.json.
FROM node:20-bookworm-slim AS web
WORKDIR /src/internal/manager/web/app
COPY internal/manager/web/app/package.json internal/manager/web/app/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY internal/manager/web/app/ ./
RUN npm run build

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/internal/manager/web/dist internal/manager/web/dist
ARG VERSION=dev
RUN make build-product BIN=/out VERSION=${VERSION}

# calico-node: the agent (Felix's nftables dataplane, confd and BIRD),
# the CNI plugins and their installer (the init container), and
# calicoctl for `calicoctl node status` inside the pod.
FROM debian:bookworm-slim AS node
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables iptables bird2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/calico-node /out/calico-cni-install /out/calicoctl /usr/local/bin/
COPY --from=build /out/calico /out/calico-ipam /opt/cni/bin/
ENTRYPOINT ["/usr/local/bin/calico-node"]

FROM gcr.io/distroless/static-debian12:nonroot AS typha
COPY --from=build /out/calico-typha /usr/local/bin/
USER 999:999
EXPOSE 5473
ENTRYPOINT ["/usr/local/bin/calico-typha"]

FROM gcr.io/distroless/static-debian12:nonroot AS kube-controllers
COPY --from=build /out/calico-kube-controllers /usr/local/bin/
USER 999:999
ENTRYPOINT ["/usr/local/bin/calico-kube-controllers"]

FROM gcr.io/distroless/static-debian12:nonroot AS apiserver
COPY --from=build /out/calico-apiserver /usr/local/bin/
USER 65532:65532
EXPOSE 5443
ENTRYPOINT ["/usr/local/bin/calico-apiserver"]

# calicoctl and calicoq, for running as a pod or a container.
FROM gcr.io/distroless/static-debian12:nonroot AS ctl
COPY --from=build /out/calicoctl /out/calicoq /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/calicoctl"]

# The log API (docs/linseed.md); its SQLite store is a mounted volume.
FROM gcr.io/distroless/static-debian12:nonroot AS linseed
COPY --from=build /out/calico-linseed /usr/local/bin/
USER 10001:10001
EXPOSE 8444
ENTRYPOINT ["/usr/local/bin/calico-linseed"]

# The per-node log shipper: root, to read the node's log files.
FROM gcr.io/distroless/static-debian12 AS log-shipper
COPY --from=build /out/calico-log-shipper /usr/local/bin/
USER 0:0
ENTRYPOINT ["/usr/local/bin/calico-log-shipper"]

# The RBAC-checking proxy in front of Prometheus (docs/prometheus.md).
FROM gcr.io/distroless/static-debian12:nonroot AS prometheus-service
COPY --from=build /out/calico-prometheus-service /usr/local/bin/
USER 65532:65532
EXPOSE 8090
ENTRYPOINT ["/usr/local/bin/calico-prometheus-service"]

# The web console (docs/manager.md): the front door, its UI API and the
# console itself, embedded.
FROM gcr.io/distroless/static-debian12:nonroot AS manager
COPY --from=build /out/calico-manager /usr/local/bin/
USER 65532:65532
EXPOSE 9443
ENTRYPOINT ["/usr/local/bin/calico-manager"]

FROM gcr.io/distroless/static-debian12:nonroot AS intrusion-detection
COPY --from=build /out/calico-intrusion-detection /usr/local/bin/
USER 999:999
ENTRYPOINT ["/usr/local/bin/calico-intrusion-detection"]

FROM gcr.io/distroless/static-debian12:nonroot AS compliance
COPY --from=build /out/calico-compliance /usr/local/bin/
USER 999:999
ENTRYPOINT ["/usr/local/bin/calico-compliance"]

# The packet capture API (docs/packet-capture.md).
FROM gcr.io/distroless/static-debian12:nonroot AS packetcapture
COPY --from=build /out/calico-packetcapture /usr/local/bin/
USER 65532:65532
EXPOSE 8444
ENTRYPOINT ["/usr/local/bin/calico-packetcapture"]
