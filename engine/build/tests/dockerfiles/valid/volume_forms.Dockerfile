FROM alpine
VOLUME /data /logs
VOLUME ["/var/lib/db", "/cache"]
