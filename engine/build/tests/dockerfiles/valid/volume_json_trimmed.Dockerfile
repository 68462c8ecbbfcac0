FROM alpine
VOLUME [" /data ", "/x"]
