FROM alpine
VOLUME ["/a", null]
