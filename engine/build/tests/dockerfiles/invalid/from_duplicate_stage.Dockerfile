FROM alpine AS a
FROM busybox AS A
