FROM alpine
HEALTHCHECK --start-period=-3s CMD true
