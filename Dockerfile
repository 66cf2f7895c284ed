# Builds the controller image used by manifests/ (build it with any OCI builder).
FROM golang:1.27 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
# Every file of the main package (main.go, lead.go, ...); _test.go files are
# copied too, and ignored by go build.
COPY *.go ./
COPY pkg/ pkg/
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /daemonset-controller .

FROM gcr.io/distroless/static:nonroot
COPY --from=build /daemonset-controller /daemonset-controller
USER 65532:65532
ENTRYPOINT ["/daemonset-controller"]
