FROM --platform=$BUILDPLATFORM golang:1.22 AS Builder
FROM scratch as final
