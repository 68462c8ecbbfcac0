FROM alpine
HEALTHCHECK CMD ["/bin/check", "--quick"]
HEALTHCHECK NONE
