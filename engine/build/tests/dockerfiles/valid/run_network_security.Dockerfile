FROM alpine
RUN --network=none --security=insecure echo offline
