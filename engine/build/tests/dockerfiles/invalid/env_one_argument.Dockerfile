FROM alpine
ENV foo
