FROM alpine AS a
FROM busybox
COPY --from=0 /etc/os-release /a-release
