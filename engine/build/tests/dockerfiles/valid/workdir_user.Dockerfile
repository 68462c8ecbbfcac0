FROM alpine
WORKDIR /app
WORKDIR sub dir
USER nobody:nogroup
USER 1000
